// What the GGUF block codecs (Q4_0, Q8_0, Q2_0) share once the scale is given: one fp16 scale per
// block of a row, levels clamp(round(x / fp16(s)), qmin, qmax), values level * fp16(s). Only the
// block size, the level range and the rounding differ; the RTN scale rules and byte layouts stay
// in each codec's own file.
#pragma once
#include <cstdint>

#include "quant/scheme.h"

namespace gq::quant {

struct GgufBlockRule {
  const char* codec;
  int64_t block;
  int qmin, qmax;
  Rounding rounding;  // kHalfUp (Q4_0) or kHalfAway (Q8_0, Q2_0)
};

// Levels for given (learned) scales [rows, cols / block]; FormatError on non-finite input or a scale
// whose fp16 value is zero or not finite.
void gguf_block_encode(const GgufBlockRule& rule, const float* x, const float* scales, int8_t* levels, int64_t rows,
                       int64_t cols);
// The floats those levels decode to, computed without bytes.
void gguf_block_fake_quant(const GgufBlockRule& rule, const float* x, const float* scales, float* y, int64_t rows,
                           int64_t cols);
// y = level * fp16(scale).
void gguf_block_dequantize(const GgufBlockRule& rule, const int8_t* levels, const float* scales, float* y,
                           int64_t rows, int64_t cols);

}  // namespace gq::quant
