#include "quant/q8_0.h"

#include <cmath>

#include "io/half.h"
#include "quant/block_io.h"
#include "quant/gguf_block.h"
#include "quant/rounding.h"
#include "quant/validate.h"

namespace gq::quant {
namespace {

constexpr const char* kCodec = "q8_0";
constexpr int64_t QK = kQ8_0Block;
constexpr GgufBlockRule kRule{kCodec, QK, kQ8_0LevelMin, kQ8_0LevelMax, Rounding::kHalfAway};

void check_input(const float* x, int64_t rows, int64_t cols) {
  check_shape(kCodec, rows, cols, QK, "block");
  check_finite(kCodec, x, rows, cols);
}

float rtn_d_checked(const float* xb, int64_t row, int64_t block) {
  float amax = 0.0f;
  for (int64_t j = 0; j < QK; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
  const float d = amax / 127.0f;
  check_f16_storable(kCodec, d, row, block);
  return d;
}

}  // namespace

size_t q8_0_row_bytes(int64_t cols) {
  check_shape(kCodec, 0, cols, QK, "block");
  return size_t(cols / QK) * kQ8_0BlockBytes;
}

void q8_0_rtn_scales(const float* x, float* d, int64_t rows, int64_t cols) {
  check_input(x, rows, cols);
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < nb; ++b) d[r * nb + b] = rtn_d_checked(x + r * cols + b * QK, r, b);
}

void q8_0_encode_rtn(const float* x, const float* d, int8_t* levels, int64_t rows, int64_t cols) {
  check_input(x, rows, cols);
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const float db = d[r * nb + b];
      if (!std::isfinite(db)) fail(std::string(kCodec) + ": RTN scale of row " + std::to_string(r) +
                                   ", block " + std::to_string(b) + " is not finite");
      const float id = db != 0.0f ? 1.0f / db : 0.0f;
      const float* xb = x + r * cols + b * QK;
      int8_t* lb = levels + r * cols + b * QK;
      const bool degenerate = !std::isfinite(id);
      for (int64_t j = 0; j < QK; ++j) {
        if (degenerate) {
          lb[j] = 0;
          continue;
        }
        const float p = xb[j] * id;  // |p| <= 127 * (1 + 2^-22)
        long q = std::lround(p);
        if (q > kQ8_0LevelMax) q = kQ8_0LevelMax;
        if (q < kQ8_0LevelMin) q = kQ8_0LevelMin;
        lb[j] = int8_t(q);
      }
    }
  }
}

void q8_0_encode(const float* x, const float* scales, int8_t* levels, int64_t rows, int64_t cols) {
  gguf_block_encode(kRule, x, scales, levels, rows, cols);
}

void q8_0_pack(const int8_t* levels, const float* scales, uint8_t* out, int64_t rows, int64_t cols) {
  check_shape(kCodec, rows, cols, QK, "block");
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      check_f16_storable(kCodec, scales[r * nb + b], r, b);
      uint8_t* blk = out + (r * nb + b) * kQ8_0BlockBytes;
      store_u16le(blk, f32_to_f16(scales[r * nb + b]));
      const int8_t* lb = levels + r * cols + b * QK;
      for (int64_t j = 0; j < QK; ++j) {
        if (lb[j] < kQ8_0LevelMin)
          fail(std::string(kCodec) + ": level -128 at row " + std::to_string(r) + ", element " +
               std::to_string(b * QK + j) + " is outside -127..127");
        blk[2 + j] = uint8_t(lb[j]);
      }
    }
  }
}

void q8_0_unpack(const uint8_t* in, int8_t* levels, float* scales, int64_t rows, int64_t cols) {
  check_shape(kCodec, rows, cols, QK, "block");
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = in + (r * nb + b) * kQ8_0BlockBytes;
      const float d = f16_to_f32(load_u16le(blk));
      if (!std::isfinite(d))
        fail(std::string(kCodec) + ": block " + std::to_string(b) + " of row " + std::to_string(r) +
             " has a non-finite scale");
      scales[r * nb + b] = d;
      int8_t* lb = levels + r * cols + b * QK;
      for (int64_t j = 0; j < QK; ++j) lb[j] = int8_t(blk[2 + j]);
    }
  }
}

void q8_0_dequantize(const int8_t* levels, const float* scales, float* y, int64_t rows, int64_t cols) {
  gguf_block_dequantize(kRule, levels, scales, y, rows, cols);
}

void fake_quant_q8_0(const float* x, float* y, int64_t rows, int64_t cols) {
  check_input(x, rows, cols);
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t o = r * cols + b * QK;
      const float d = rtn_d_checked(x + o, r, b);
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      const float d16 = round_to_f16(d);
      const bool degenerate = !std::isfinite(id);
      for (int64_t j = 0; j < QK; ++j) {
        float lvl = 0.0f;
        if (!degenerate) {
          const float p = x[o + j] * id;
          lvl = clampf(round_half_away(p), float(kQ8_0LevelMin), float(kQ8_0LevelMax));
        }
        y[o + j] = lvl * d16;
      }
    }
  }
}

void fake_quant_q8_0_with_scales(const float* x, const float* scales, float* y, int64_t rows,
                                 int64_t cols) {
  gguf_block_fake_quant(kRule, x, scales, y, rows, cols);
}

}  // namespace gq::quant
