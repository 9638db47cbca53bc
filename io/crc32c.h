// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF), as
// iSCSI, ext4 and Snappy use it: crc32c("123456789") = 0xE3069283. SSE4.2's crc32 instruction where
// the CPU has it (~10 GB/s), else slicing-by-8 tables (~1 GB/s); both give the same value.
#pragma once
#include <cstddef>
#include <cstdint>

namespace gq {

// The CRC of `n` bytes continuing from `crc` (0 to start): crc32c(b, crc32c(a)) = crc32c(a + b).
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

}  // namespace gq
