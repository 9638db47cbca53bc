// GGUF Q2_0 (ggml type 42, llama.cpp b9916+; see README.md for why this 2-bit type): blocks of 64
// consecutive values of a row, 18 bytes each:
//   fp16 d (little-endian), then qs[16]; element j of the block is in byte j / 4 at bits
//   2 * (j % 4), as code c = level + 1 in 0..3.
// Deployed value (ggml dequantize_row_q2_0): y = level * fp16(d), level in {-1, 0, 1, 2}.
//
// 1. RTN, exactly ggml's quantize_row_q2_0_ref:
//      d = amax (fp32); id = d > 0 ? 1/d : 0; level = clamp(roundf(x * id), -1, 2) (half away)
//      stored fp16(d). With d = amax the +2 level is never used (|x * id| <= 1).
//    If 1/d overflows (amax < 2^-128; fp16(d) is 0) the block gets level 0.
//    A block with amax >= 65520 (fp16(d) = inf) is rejected with FormatError.
//
// 2. Learned scale s per block: s16 = fp16(s) (finite, nonzero; a negative s mirrors the grid);
//      level = clamp(round_half_away(x / s16), -1, 2); y = level * s16.
//    This is the grid a QAT op should train: {-1, 0, 1, 2} * s, all four levels used.
//
// x, y, levels: row-major [rows, cols]; scales: [rows, cols / 64].
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/gguf_block.h"

namespace gq::quant {

constexpr int64_t kQ2_0Block = 64;
constexpr size_t kQ2_0BlockBytes = 18;
constexpr uint32_t kGgmlTypeQ2_0 = 42;
constexpr int kQ2_0LevelMin = -1;
constexpr int kQ2_0LevelMax = 2;

struct Q2_0Format;  // q2_0.cpp
using Q2_0Codec = GgufBlockCodec<Q2_0Format>;
extern template struct GgufBlockCodec<Q2_0Format>;

// One name per operation (callers that take each operation as a function pointer).
inline constexpr auto& q2_0_row_bytes = Q2_0Codec::row_bytes;
inline constexpr auto& q2_0_rtn_scales = Q2_0Codec::rtn_scales;
inline constexpr auto& q2_0_encode_rtn = Q2_0Codec::encode_rtn;
inline constexpr auto& q2_0_encode = Q2_0Codec::encode;
inline constexpr auto& q2_0_pack = Q2_0Codec::pack;
inline constexpr auto& q2_0_unpack = Q2_0Codec::unpack;
inline constexpr auto& q2_0_dequantize = Q2_0Codec::dequantize;
inline constexpr auto& fake_quant_q2_0 = Q2_0Codec::fake_quant;
inline constexpr auto& fake_quant_q2_0_with_scales = Q2_0Codec::fake_quant_with_scales;

}  // namespace gq::quant
