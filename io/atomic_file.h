// Output files are written under a temporary name and renamed into place when complete, so an
// interrupted run never leaves a file that looks finished.
#pragma once
#include <cstdio>
#include <string>

namespace gq {

class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);  // opens `<path>.tmp-<pid>`; throws FormatError
  ~AtomicFile();                                 // removes the temporary file unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);        // throws FormatError on a short write
  void pad_to(size_t alignment, char fill = 0);  // pads the current position to a multiple
  // Overwrites `n` bytes already written at `offset` (a header completed after its data); the next
  // write() still appends.
  void write_at(size_t offset, const void* data, size_t n);
  size_t position() const { return pos_; }
  void commit();                                 // flush, fsync, close, rename

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  size_t pos_ = 0;
  bool committed_ = false;
};

}  // namespace gq
