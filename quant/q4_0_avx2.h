// Q4_0 RTN (ggml's quantize_row_q4_0_ref, q4_0.h) on AVX2, chosen at run time: what `convert`
// spends its time in. Bytes identical to the portable loop (gguf_block_impl.h), which stays the
// definition: the vector path takes only the ordinary blocks and hands every other one back to it.
#pragma once
#include <cstdint>

namespace gq::quant {

// Whether this CPU runs the AVX2 kernel (checked once). GQ_QUANT_ISA=scalar in the environment
// turns it off (the portable loop then does everything).
bool q4_0_avx2_enabled();

// Encodes consecutive blocks of 32 floats at x into 18-byte blocks at out, from the first block
// on, and returns how many it wrote: it stops before the first block the portable loop must take
// (a non-finite value, a d = m / -8 that fp16 cannot hold, a 1 / d that overflows). 0 when the
// kernel is not enabled.
int64_t q4_0_rtn_blocks_avx2(const float* x, uint8_t* out, int64_t blocks);

// The same for fake_quant_q4_0_in_range_bits (q4_0.h): y and the in-range bits of consecutive
// blocks, from the first on; stops before the same blocks as above. 0 when not enabled.
int64_t q4_0_fake_quant_blocks_avx2(const float* x, float* y, uint32_t* in_range, int64_t blocks);

// q4_0_apply_in_range_bits (q4_0.h) on whole blocks; returns how many it did (0 when not enabled).
int64_t q4_0_apply_in_range_bits_avx2(const float* g, const uint32_t* in_range, float* out, int64_t blocks);

}  // namespace gq::quant
