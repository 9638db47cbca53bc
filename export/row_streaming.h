// Streaming a memory-mapped checkpoint tensor a chunk of rows at a time (both exporters): how many
// rows fit a chunk, and giving the pages back once a tensor is written.
#pragma once
#include <cstddef>
#include <cstdint>

namespace gq {

// Rows of `cols` float32 values that fit `chunk_bytes` (at least one).
int64_t chunk_rows(size_t chunk_bytes, int64_t cols);

// Drops the checkpoint pages of a written tensor: the mapping is read-only and private, so the
// kernel simply re-reads them if needed. Keeps the resident set near one chunk instead of growing
// to the whole checkpoint.
void release_pages(const uint8_t* p, size_t n);

// Maps the checkpoint pages of a range about to be read in one call (MADV_POPULATE_READ) rather
// than a page fault every few pages; nothing where the kernel lacks it (before Linux 5.14).
void populate_pages(const uint8_t* p, size_t n);

}  // namespace gq
