// GGUF Q8_0 (ggml type 8): blocks of 32 consecutive values of a row, 34 bytes each:
//   fp16 d (little-endian), then qs[32] int8 levels. Deployed value: y = level * fp16(d).
//
// 1. RTN, exactly ggml's quantize_row_q8_0_ref:
//      d = amax / 127 (fp32); id = d != 0 ? 1/d : 0; level = roundf(x * id)  (half away from zero)
//      stored fp16(d). Codes use the fp32 d, dequant the fp16 d. Levels stay in -127..127.
//    If 1/d overflows (|d| < 2^-128; fp16(d) is 0) the block gets level 0 (ggml is undefined there).
//    A block whose d overflows fp16 (amax >= 127 * 65520) is rejected with FormatError.
//
// 2. Learned scale s per block: s16 = fp16(s) (finite, nonzero);
//      level = clamp(round_half_away(x / s16), -127, 127); y = level * s16.
//    -128 is never produced: ggml's x86 kernels take |q| with a sign trick that breaks on -128.
//
// x, y, levels: row-major [rows, cols]; scales: [rows, cols / 32].
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/gguf_block.h"

namespace gq::quant {

constexpr int64_t kQ8_0Block = 32;
constexpr size_t kQ8_0BlockBytes = 34;
constexpr uint32_t kGgmlTypeQ8_0 = 8;
constexpr int kQ8_0LevelMin = -127;
constexpr int kQ8_0LevelMax = 127;

struct Q8_0Format;  // q8_0.cpp
using Q8_0Codec = GgufBlockCodec<Q8_0Format>;
extern template struct GgufBlockCodec<Q8_0Format>;

// One name per operation (callers that take each operation as a function pointer).
inline constexpr auto& q8_0_row_bytes = Q8_0Codec::row_bytes;
inline constexpr auto& q8_0_rtn_scales = Q8_0Codec::rtn_scales;
inline constexpr auto& q8_0_encode_rtn = Q8_0Codec::encode_rtn;
inline constexpr auto& q8_0_encode = Q8_0Codec::encode;
inline constexpr auto& q8_0_pack = Q8_0Codec::pack;
inline constexpr auto& q8_0_unpack = Q8_0Codec::unpack;
inline constexpr auto& q8_0_dequantize = Q8_0Codec::dequantize;
inline constexpr auto& fake_quant_q8_0 = Q8_0Codec::fake_quant;
inline constexpr auto& fake_quant_q8_0_with_scales = Q8_0Codec::fake_quant_with_scales;

}  // namespace gq::quant
