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

namespace gq::quant {

constexpr int64_t kQ4_0Block = 32;
constexpr size_t kQ4_0BlockBytes = 18;
constexpr uint32_t kGgmlTypeQ4_0 = 2;
constexpr int kQ4_0LevelMin = -8;
constexpr int kQ4_0LevelMax = 7;

size_t q4_0_row_bytes(int64_t cols);  // throws if cols % 32 != 0

// RTN: fp32 d = m / -8 per block (not yet rounded to fp16).
void q4_0_rtn_scales(const float* x, float* d, int64_t rows, int64_t cols);
// RTN levels from the fp32 d of q4_0_rtn_scales (ggml's rule above).
void q4_0_encode_rtn(const float* x, const float* d, int8_t* levels, int64_t rows, int64_t cols);
// Levels for a given (learned) scale per block.
void q4_0_encode(const float* x, const float* scales, int8_t* levels, int64_t rows, int64_t cols);

// Bytes: rows * q4_0_row_bytes(cols). Stores fp16(scales[b]); throws if that is not finite.
void q4_0_pack(const int8_t* levels, const float* scales, uint8_t* out, int64_t rows, int64_t cols);
// Inverse of pack; scales receive the stored fp16 values as float. Throws on a non-finite scale.
void q4_0_unpack(const uint8_t* in, int8_t* levels, float* scales, int64_t rows, int64_t cols);
// y = level * fp16(scale) (scales are rounded to fp16 here, so fp32 RTN d can be passed directly).
void q4_0_dequantize(const int8_t* levels, const float* scales, float* y, int64_t rows, int64_t cols);

// Fake-quant references: the floats the deployed file decodes to, computed without bytes.
void fake_quant_q4_0(const float* x, float* y, int64_t rows, int64_t cols);
void fake_quant_q4_0_with_scales(const float* x, const float* scales, float* y, int64_t rows,
                                 int64_t cols);

}  // namespace gq::quant
