#include "quant/gguf_block.h"

#include "quant/rounding.h"
#include "quant/validate.h"

namespace gq::quant {
namespace {

// Visits every block with its checked fp16 scale: fn(offset of the block, s16).
template <class Fn>
void for_each_scaled_block(const GgufBlockRule& rule, const float* x, const float* scales, int64_t rows, int64_t cols,
                           Fn fn) {
  check_shape(rule.codec, rows, cols, rule.block, "block");
  check_finite(rule.codec, x, rows, cols);
  const int64_t nb = cols / rule.block;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const float s = scales[r * nb + b];
      const float s16 = round_to_f16(s);
      check_nonzero_f16_scale(rule.codec, s, s16, r, b);
      fn(r * cols + b * rule.block, s16);
    }
  }
}

// The level of x / s16 as a float: exact rounding of an IEEE division, then the clamp.
float level_of(const GgufBlockRule& rule, float v) {
  const float q = rule.rounding == Rounding::kHalfUp ? round_half_up(v) : round_half_away(v);
  return clampf(q, float(rule.qmin), float(rule.qmax));
}

}  // namespace

void gguf_block_encode(const GgufBlockRule& rule, const float* x, const float* scales, int8_t* levels, int64_t rows,
                       int64_t cols) {
  for_each_scaled_block(rule, x, scales, rows, cols, [&](int64_t o, float s16) {
    for (int64_t j = 0; j < rule.block; ++j) levels[o + j] = int8_t(level_of(rule, x[o + j] / s16));
  });
}

void gguf_block_fake_quant(const GgufBlockRule& rule, const float* x, const float* scales, float* y, int64_t rows,
                           int64_t cols) {
  for_each_scaled_block(rule, x, scales, rows, cols, [&](int64_t o, float s16) {
    for (int64_t j = 0; j < rule.block; ++j) y[o + j] = level_of(rule, x[o + j] / s16) * s16;
  });
}

void gguf_block_dequantize(const GgufBlockRule& rule, const int8_t* levels, const float* scales, float* y,
                           int64_t rows, int64_t cols) {
  check_shape(rule.codec, rows, cols, rule.block, "block");
  const int64_t nb = cols / rule.block;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const float d = round_to_f16(scales[r * nb + b]);
      const int64_t o = r * cols + b * rule.block;
      for (int64_t j = 0; j < rule.block; ++j) y[o + j] = float(int(levels[o + j])) * d;
    }
  }
}

}  // namespace gq::quant
