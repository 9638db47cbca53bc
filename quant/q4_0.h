// GGUF Q4_0 (ggml type 2): blocks of 32 consecutive values of a row, 18 bytes each:
//   fp16 d (little-endian), then qs[16] with qs[j] = c_j | c_{j+16} << 4, c = level + 8 in 0..15.
// Deployed value (ggml dequantize_row_q4_0): y = level * fp16(d), level in -8..7.
//
// Two ways to get levels, both bit-exact with their fake-quant reference:
//
// 1. RTN, exactly ggml's quantize_row_q4_0_ref (what llama-quantize writes without an imatrix):
//      m  = the signed value of largest |x| in the block (first one wins on ties)
//      d  = m / -8 (fp32);  id = d != 0 ? 1/d : 0
//      c  = min(15, trunc(x*id + 8.5))            (x*id and + 8.5 rounded separately, no FMA)
//      stored scale fp16(d); level = c - 8.  Codes use the fp32 d, dequant the fp16 d.
//    If 1/d overflows (|d| < 2^-128, so fp16(d) is 0 anyway) ggml's cast is undefined behaviour; here
//    the whole block gets level 0 (decodes to 0 * fp16(d)).
//    A block whose d overflows fp16 (|m| >= 524160) is rejected with FormatError.
//
// 2. Learned scale s per block (QAT exports the scale it trained):
//      s16 = fp16(s)  (must be finite and nonzero; the sign is kept, as ggml's d is signed)
//      level = clamp(round_half_up(x / s16), -8, 7)     x / s16 is an IEEE division
//      y = level * s16
//    round_half_up is floor(v + 0.5) computed exactly (see rounding.h for the torch formula).
//
// Layout of the arrays: x, y, levels are row-major [rows, cols]; scales are [rows, cols / 32].
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/gguf_block.h"

namespace gq::quant {

constexpr int64_t kQ4_0Block = 32;
constexpr size_t kQ4_0BlockBytes = 18;
constexpr uint32_t kGgmlTypeQ4_0 = 2;
constexpr int kQ4_0LevelMin = -8;
constexpr int kQ4_0LevelMax = 7;

struct Q4_0Format;  // q4_0.cpp
using Q4_0Codec = GgufBlockCodec<Q4_0Format>;
extern template struct GgufBlockCodec<Q4_0Format>;

// One name per operation (callers that take each operation as a function pointer).
inline constexpr auto& q4_0_row_bytes = Q4_0Codec::row_bytes;
inline constexpr auto& q4_0_rtn_scales = Q4_0Codec::rtn_scales;
inline constexpr auto& q4_0_encode_rtn = Q4_0Codec::encode_rtn;
inline constexpr auto& q4_0_encode = Q4_0Codec::encode;
inline constexpr auto& q4_0_pack = Q4_0Codec::pack;
inline constexpr auto& q4_0_unpack = Q4_0Codec::unpack;
inline constexpr auto& q4_0_dequantize = Q4_0Codec::dequantize;
inline constexpr auto& fake_quant_q4_0 = Q4_0Codec::fake_quant;
inline constexpr auto& fake_quant_q4_0_with_scales = Q4_0Codec::fake_quant_with_scales;

// QAT's Q4_0 pass: the values of fake_quant_q4_0 and, from the same pass over x, the
// straight-through gradient mask, one bit per value: bit j of in_range[i] (i = r * cols / 32 + b) is
// 1 when value j of block b of row r is not clamped at the top code (x * id + 8.5 < 16; nothing
// clamps at the bottom). A block whose 1 / d overflows (level 0) keeps every bit. Any input
// fake_quant_q4_0 rejects throws its exception, message included.
void fake_quant_q4_0_in_range_bits(const float* x, float* y, uint32_t* in_range, int64_t rows, int64_t cols);
// The mask's backward: out = g * (bit ? 1.0f : 0.0f) for n values (a multiple of 32) and their
// n / 32 words of bits; a product, so -0 and NaN come out as g times a float mask gives them.
void q4_0_apply_in_range_bits(const float* g, const uint32_t* in_range, float* out, int64_t n);

}  // namespace gq::quant
