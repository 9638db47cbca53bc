// Writing encoded bytes on a thread of their own while the next chunk is encoded (the exporters'
// chunk loops): two buffers, one filled by the encoders, the other being written; writes stay in
// order, one at a time. Without it the cores wait for every write (measured in convert_bench: the
// copy into the page cache was a quarter of the conversion's CPU time).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>

namespace gq {

class WriteBehind {
 public:
  // `write` gets the buffers in order, on the background thread; what it throws comes back from
  // the next flush() or finish(). Buffers below `min_bytes` are kept and appended to.
  explicit WriteBehind(std::function<void(const uint8_t*, size_t)> write, size_t min_bytes = size_t(1) << 20);
  ~WriteBehind();  // waits for a write in flight (its error is dropped: the output is abandoned)
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // n more bytes at the end of the buffer being filled, for the caller to write; valid until the
  // next append() or flush().
  uint8_t* append(size_t n);
  // Hands the buffer to the background thread once it holds min_bytes (after the write before it).
  void flush();
  // Writes what is left and waits for every write.
  void finish();

 private:
  void submit();

  std::function<void(const uint8_t*, size_t)> write_;
  size_t min_bytes_;
  // Not a std::vector: resize() would zero every byte the encoders are about to write.
  struct Buffer {
    std::unique_ptr<uint8_t[]> data;
    size_t size = 0, capacity = 0;
  };
  Buffer buf_[2];
  int cur_ = 0;
  std::future<void> pending_;  // the write of buf_[1 - cur_], if any
};

}  // namespace gq
