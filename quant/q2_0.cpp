#include "quant/q2_0.h"

#include <cmath>

#include "io/half.h"
#include "quant/block_io.h"
#include "quant/gguf_block.h"
#include "quant/rounding.h"
#include "quant/validate.h"

namespace gq::quant {
namespace {

constexpr const char* kCodec = "q2_0";
constexpr int64_t QK = kQ2_0Block;
constexpr GgufBlockRule kRule{kCodec, QK, kQ2_0LevelMin, kQ2_0LevelMax, Rounding::kHalfAway};

void check_input(const float* x, int64_t rows, int64_t cols) {
  check_shape(kCodec, rows, cols, QK, "block");
  check_finite(kCodec, x, rows, cols);
}

float rtn_d_checked(const float* xb, int64_t row, int64_t block) {
  float amax = 0.0f;
  for (int64_t j = 0; j < QK; ++j) {
    const float a = std::fabs(xb[j]);
    if (a > amax) amax = a;
  }
  check_f16_storable(kCodec, amax, row, block);
  return amax;
}

}  // namespace

size_t q2_0_row_bytes(int64_t cols) {
  check_shape(kCodec, 0, cols, QK, "block");
  return size_t(cols / QK) * kQ2_0BlockBytes;
}

void q2_0_rtn_scales(const float* x, float* d, int64_t rows, int64_t cols) {
  check_input(x, rows, cols);
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < nb; ++b) d[r * nb + b] = rtn_d_checked(x + r * cols + b * QK, r, b);
}

void q2_0_encode_rtn(const float* x, const float* d, int8_t* levels, int64_t rows, int64_t cols) {
  check_input(x, rows, cols);
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const float db = d[r * nb + b];
      if (!std::isfinite(db)) fail(std::string(kCodec) + ": RTN scale of row " + std::to_string(r) +
                                   ", block " + std::to_string(b) + " is not finite");
      const float id = db > 0.0f ? 1.0f / db : 0.0f;
      const float* xb = x + r * cols + b * QK;
      int8_t* lb = levels + r * cols + b * QK;
      const bool degenerate = !std::isfinite(id);
      for (int64_t j = 0; j < QK; ++j) {
        if (degenerate) {
          lb[j] = 0;
          continue;
        }
        const float p = xb[j] * id;  // |p| <= 1 + 2^-23 for a non-degenerate RTN d
        long q = std::lround(p);
        if (q < kQ2_0LevelMin) q = kQ2_0LevelMin;
        if (q > kQ2_0LevelMax) q = kQ2_0LevelMax;
        lb[j] = int8_t(q);
      }
    }
  }
}

void q2_0_encode(const float* x, const float* scales, int8_t* levels, int64_t rows, int64_t cols) {
  gguf_block_encode(kRule, x, scales, levels, rows, cols);
}

void q2_0_pack(const int8_t* levels, const float* scales, uint8_t* out, int64_t rows, int64_t cols) {
  check_shape(kCodec, rows, cols, QK, "block");
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      check_f16_storable(kCodec, scales[r * nb + b], r, b);
      uint8_t* blk = out + (r * nb + b) * kQ2_0BlockBytes;
      store_u16le(blk, f32_to_f16(scales[r * nb + b]));
      const int8_t* lb = levels + r * cols + b * QK;
      for (int64_t k = 0; k < QK / 4; ++k) blk[2 + k] = 0;
      for (int64_t j = 0; j < QK; ++j) {
        if (lb[j] < kQ2_0LevelMin || lb[j] > kQ2_0LevelMax)
          fail(std::string(kCodec) + ": level " + std::to_string(lb[j]) + " at row " +
               std::to_string(r) + ", element " + std::to_string(b * QK + j) + " is outside -1..2");
        blk[2 + j / 4] = uint8_t(blk[2 + j / 4] | (unsigned(lb[j] + 1) << (2 * (j % 4))));
      }
    }
  }
}

void q2_0_unpack(const uint8_t* in, int8_t* levels, float* scales, int64_t rows, int64_t cols) {
  check_shape(kCodec, rows, cols, QK, "block");
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = in + (r * nb + b) * kQ2_0BlockBytes;
      const float d = f16_to_f32(load_u16le(blk));
      if (!std::isfinite(d))
        fail(std::string(kCodec) + ": block " + std::to_string(b) + " of row " + std::to_string(r) +
             " has a non-finite scale");
      scales[r * nb + b] = d;
      int8_t* lb = levels + r * cols + b * QK;
      for (int64_t j = 0; j < QK; ++j) lb[j] = int8_t(int((blk[2 + j / 4] >> (2 * (j % 4))) & 3) - 1);
    }
  }
}

void q2_0_dequantize(const int8_t* levels, const float* scales, float* y, int64_t rows, int64_t cols) {
  gguf_block_dequantize(kRule, levels, scales, y, rows, cols);
}

void fake_quant_q2_0(const float* x, float* y, int64_t rows, int64_t cols) {
  check_input(x, rows, cols);
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t o = r * cols + b * QK;
      const float d = rtn_d_checked(x + o, r, b);
      const float id = d > 0.0f ? 1.0f / d : 0.0f;
      const float d16 = round_to_f16(d);
      const bool degenerate = !std::isfinite(id);
      for (int64_t j = 0; j < QK; ++j) {
        float lvl = 0.0f;
        if (!degenerate) {
          const float p = x[o + j] * id;
          lvl = clampf(round_half_away(p), float(kQ2_0LevelMin), float(kQ2_0LevelMax));
        }
        y[o + j] = lvl * d16;
      }
    }
  }
}

void fake_quant_q2_0_with_scales(const float* x, const float* scales, float* y, int64_t rows,
                                 int64_t cols) {
  gguf_block_fake_quant(kRule, x, scales, y, rows, cols);
}

}  // namespace gq::quant
