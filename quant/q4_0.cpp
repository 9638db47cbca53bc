#include "quant/q4_0.h"

#include <cmath>

#include "io/half.h"
#include "quant/block_io.h"
#include "quant/gguf_block.h"
#include "quant/rounding.h"
#include "quant/validate.h"

namespace gq::quant {
namespace {

constexpr const char* kCodec = "q4_0";
constexpr int64_t QK = kQ4_0Block;
constexpr GgufBlockRule kRule{kCodec, QK, kQ4_0LevelMin, kQ4_0LevelMax, Rounding::kHalfUp};

void check_input(const float* x, int64_t rows, int64_t cols) {
  check_shape(kCodec, rows, cols, QK, "block");
  check_finite(kCodec, x, rows, cols);
}

// ggml: the signed value of largest magnitude (strict >, so the first wins), d = m / -8.
float block_d(const float* xb) {
  float amax = 0.0f, m = 0.0f;
  for (int64_t j = 0; j < QK; ++j) {
    const float a = std::fabs(xb[j]);
    if (a > amax) {
      amax = a;
      m = xb[j];
    }
  }
  return m / -8.0f;
}

float rtn_d_checked(const float* xb, int64_t row, int64_t block) {
  const float d = block_d(xb);
  check_f16_storable(kCodec, d, row, block);
  return d;
}

}  // namespace

size_t q4_0_row_bytes(int64_t cols) {
  check_shape(kCodec, 0, cols, QK, "block");
  return size_t(cols / QK) * kQ4_0BlockBytes;
}

void q4_0_rtn_scales(const float* x, float* d, int64_t rows, int64_t cols) {
  check_input(x, rows, cols);
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < nb; ++b) d[r * nb + b] = rtn_d_checked(x + r * cols + b * QK, r, b);
}

void q4_0_encode_rtn(const float* x, const float* d, int8_t* levels, int64_t rows, int64_t cols) {
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
      if (!std::isfinite(id)) {  // |d| < 2^-128: ggml is undefined here; fp16(d) == 0
        for (int64_t j = 0; j < QK; ++j) lb[j] = 0;
        continue;
      }
      for (int64_t j = 0; j < QK; ++j) {
        const float p = xb[j] * id;
        const float v = p + 8.5f;  // in [0.5 - eps, 16.5 + eps]
        int c = int(v);            // truncation, as ggml's (int8_t) cast
        if (c > 15) c = 15;
        if (c < 0) c = 0;
        lb[j] = int8_t(c - 8);
      }
    }
  }
}

void q4_0_encode(const float* x, const float* scales, int8_t* levels, int64_t rows, int64_t cols) {
  gguf_block_encode(kRule, x, scales, levels, rows, cols);
}

void q4_0_pack(const int8_t* levels, const float* scales, uint8_t* out, int64_t rows, int64_t cols) {
  check_shape(kCodec, rows, cols, QK, "block");
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      check_f16_storable(kCodec, scales[r * nb + b], r, b);
      uint8_t* blk = out + (r * nb + b) * kQ4_0BlockBytes;
      store_u16le(blk, f32_to_f16(scales[r * nb + b]));
      const int8_t* lb = levels + r * cols + b * QK;
      for (int64_t j = 0; j < QK; ++j) {
        if (lb[j] < kQ4_0LevelMin || lb[j] > kQ4_0LevelMax)
          fail(std::string(kCodec) + ": level " + std::to_string(lb[j]) + " at row " +
               std::to_string(r) + ", element " + std::to_string(b * QK + j) + " is outside -8..7");
      }
      for (int64_t j = 0; j < QK / 2; ++j) {
        const unsigned lo = unsigned(lb[j] + 8), hi = unsigned(lb[j + QK / 2] + 8);
        blk[2 + j] = uint8_t(lo | (hi << 4));
      }
    }
  }
}

void q4_0_unpack(const uint8_t* in, int8_t* levels, float* scales, int64_t rows, int64_t cols) {
  check_shape(kCodec, rows, cols, QK, "block");
  const int64_t nb = cols / QK;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = in + (r * nb + b) * kQ4_0BlockBytes;
      const float d = f16_to_f32(load_u16le(blk));
      if (!std::isfinite(d))
        fail(std::string(kCodec) + ": block " + std::to_string(b) + " of row " + std::to_string(r) +
             " has a non-finite scale");
      scales[r * nb + b] = d;
      int8_t* lb = levels + r * cols + b * QK;
      for (int64_t j = 0; j < QK / 2; ++j) {
        lb[j] = int8_t(int(blk[2 + j] & 0x0F) - 8);
        lb[j + QK / 2] = int8_t(int(blk[2 + j] >> 4) - 8);
      }
    }
  }
}

void q4_0_dequantize(const int8_t* levels, const float* scales, float* y, int64_t rows, int64_t cols) {
  gguf_block_dequantize(kRule, levels, scales, y, rows, cols);
}

void fake_quant_q4_0(const float* x, float* y, int64_t rows, int64_t cols) {
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
          const float v = p + 8.5f;
          const float c = clampf(std::floor(v), 0.0f, 15.0f);
          lvl = c - 8.0f;
        }
        y[o + j] = lvl * d16;
      }
    }
  }
}

void fake_quant_q4_0_with_scales(const float* x, const float* scales, float* y, int64_t rows,
                                 int64_t cols) {
  gguf_block_fake_quant(kRule, x, scales, y, rows, cols);
}

}  // namespace gq::quant
