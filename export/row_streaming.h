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

}  // namespace gq
