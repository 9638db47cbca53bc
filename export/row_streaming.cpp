#include "export/row_streaming.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

namespace gq {

int64_t chunk_rows(size_t chunk_bytes, int64_t cols) {
  return std::max<int64_t>(1, int64_t(chunk_bytes / (sizeof(float) * size_t(std::max<int64_t>(cols, 1)))));
}

void release_pages(const uint8_t* p, size_t n) {
  static const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = (uintptr_t(p) + page - 1) / page * page, e = (uintptr_t(p) + n) / page * page;
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

void populate_pages(const uint8_t* p, size_t n) {
#ifdef MADV_POPULATE_READ
  static const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = uintptr_t(p) / page * page, e = (uintptr_t(p) + n + page - 1) / page * page;
  if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_POPULATE_READ);  // advice: errors ignored
#else
  (void)p, (void)n;
#endif
}

}  // namespace gq
