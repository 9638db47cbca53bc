#include "export/write_behind.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace gq {

WriteBehind::WriteBehind(std::function<void(const uint8_t*, size_t)> write, size_t min_bytes)
    : write_(std::move(write)), min_bytes_(min_bytes) {}

WriteBehind::~WriteBehind() {
  if (pending_.valid()) pending_.wait();
}

uint8_t* WriteBehind::append(size_t n) {
  Buffer& b = buf_[cur_];
  if (b.size + n > b.capacity) {
    const size_t cap = std::max(b.size + n, 2 * b.capacity);
    std::unique_ptr<uint8_t[]> grown(new uint8_t[cap]);  // uninitialized: written before it is read
    if (b.size) std::memcpy(grown.get(), b.data.get(), b.size);
    b.data = std::move(grown);
    b.capacity = cap;
  }
  uint8_t* p = b.data.get() + b.size;
  b.size += n;
  return p;
}

void WriteBehind::flush() {
  if (buf_[cur_].size >= min_bytes_) submit();
}

void WriteBehind::finish() {
  if (buf_[cur_].size) submit();
  if (pending_.valid()) pending_.get();
}

void WriteBehind::submit() {
  if (pending_.valid()) pending_.get();  // the other buffer is free again (or its error surfaces)
  const Buffer* b = &buf_[cur_];
  pending_ = std::async(std::launch::async, [this, b] { write_(b->data.get(), b->size); });
  cur_ ^= 1;
  buf_[cur_].size = 0;  // keeps its capacity
}

}  // namespace gq
