// The GGUF block codecs (Q4_0, Q8_0, Q2_0) as one codec on a block format. All three store rows in
// blocks of `block` consecutive values, each block an fp16 scale d (little-endian) and then its
// codes, and decode level * fp16(d). What differs is a little data and a few rules, which each
// format's file gives (q4_0.cpp, q8_0.cpp, q2_0.cpp) and documents (q4_0.h, q8_0.h, q2_0.h):
//
//   struct Format {
//     static constexpr GgufBlockLayout kLayout;          // the data
//     static float rtn_scale(const float* xb);           // ggml's fp32 d of one block
//     static float rtn_inverse(float d);                 // ggml's id: 1 / d, or 0 where ggml says
//     static int rtn_code(float p);                      // ggml's level of p = x * id (integer ops)
//     static float rtn_level(float p);                   // the same level with float ops only
//     static void pack_codes(const int8_t* levels, uint8_t* codes);  // one block, levels in range
//     static void unpack_codes(const uint8_t* codes, int8_t* levels);
//   };
//
// rtn_code and rtn_level are two independent implementations of ggml's rule (see README.md,
// "Arithmetic hygiene"): encoders use the first, fake quant the second, and the tests compare them.
//
// Arrays: x, y, levels are row-major [rows, cols]; scales and d are [rows, cols / block]. Every
// failure is a FormatError naming the codec and the row / block / element.
#pragma once
#include <cstddef>
#include <cstdint>

#include "quant/scheme.h"

namespace gq::quant {

struct GgufBlockLayout {
  const char* codec;   // in error messages
  int64_t block;       // values per block
  size_t block_bytes;  // 2 (fp16 d) + the codes
  int level_min, level_max;
  Rounding rounding;  // of x / fp16(s) for a given scale s
};

template <class Format>
struct GgufBlockCodec {
  static size_t row_bytes(int64_t cols);  // throws unless cols is a multiple of the block

  // RTN, exactly ggml's reference quantizer: the fp32 d per block (not yet rounded to fp16; throws
  // if fp16(d) overflows), then the levels for that d. A block whose 1 / d overflows (|d| < 2^-128,
  // where fp16(d) is 0 and ggml's cast is undefined) gets level 0 everywhere.
  static void rtn_scales(const float* x, float* d, int64_t rows, int64_t cols);
  // RTN straight to bytes, one pass per block (what convert runs): scale, levels and packing fused,
  // the finiteness check in the same pass, no levels buffer. Bytes identical to rtn_scales +
  // encode_rtn + pack, errors the same.
  static void quantize_rtn(const float* x, uint8_t* out, int64_t rows, int64_t cols);
  static void encode_rtn(const float* x, const float* d, int8_t* levels, int64_t rows, int64_t cols);
  // Levels for given (learned) scales s: clamp(round(x / fp16(s)), level_min, level_max), x / fp16(s)
  // an IEEE division. fp16(s) must be finite and nonzero; its sign is kept (ggml's d is signed).
  static void encode(const float* x, const float* scales, int8_t* levels, int64_t rows, int64_t cols);

  // Bytes: rows * row_bytes(cols). pack stores fp16(scales) and throws if that is not finite or a
  // level is out of range; unpack gives the stored fp16 scales as floats and throws on a non-finite one.
  static void pack(const int8_t* levels, const float* scales, uint8_t* out, int64_t rows, int64_t cols);
  static void unpack(const uint8_t* in, int8_t* levels, float* scales, int64_t rows, int64_t cols);
  // y = level * fp16(scale): the scales are rounded here, so the fp32 RTN d can be passed directly.
  static void dequantize(const int8_t* levels, const float* scales, float* y, int64_t rows, int64_t cols);

  // Fake-quant references: the floats the deployed file decodes to, computed without bytes.
  static void fake_quant(const float* x, float* y, int64_t rows, int64_t cols);
  static void fake_quant_with_scales(const float* x, const float* scales, float* y, int64_t rows, int64_t cols);
};

}  // namespace gq::quant
