#include "quant/q4_0.h"

#include <cmath>
#include <string>

#include "quant/gguf_block_impl.h"
#include "quant/q4_0_avx2.h"

namespace gq::quant {

struct Q4_0Format {
  static constexpr GgufBlockLayout kLayout{"q4_0", kQ4_0Block, kQ4_0BlockBytes, kQ4_0LevelMin, kQ4_0LevelMax,
                                             Rounding::kHalfUp};

  // ggml: the signed value of largest magnitude (strict >, so the first wins), d = m / -8.
  static float rtn_scale(const float* xb) {
    float amax = 0.0f, m = 0.0f;
    for (int64_t j = 0; j < kQ4_0Block; ++j) {
      const float a = std::fabs(xb[j]);
      if (a > amax) {
        amax = a;
        m = xb[j];
      }
    }
    return m / -8.0f;
  }
  static float rtn_inverse(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }
  static int64_t rtn_blocks_fast(const float* x, uint8_t* out, int64_t blocks) {
    return q4_0_rtn_blocks_avx2(x, out, blocks);
  }
  static int rtn_code(float p) {
    const float v = p + 8.5f;  // in [0.5 - eps, 16.5 + eps]
    int c = int(v);            // truncation, as ggml's (int8_t) cast
    if (c > 15) c = 15;
    if (c < 0) c = 0;
    return c - 8;
  }
  static float rtn_level(float p) {
    const float v = p + 8.5f;
    return clampf(std::floor(v), 0.0f, 15.0f) - 8.0f;
  }

  static void pack_codes(const int8_t* lb, uint8_t* qs) {
    for (int64_t j = 0; j < kQ4_0Block / 2; ++j) {
      const unsigned lo = unsigned(lb[j] + 8), hi = unsigned(lb[j + kQ4_0Block / 2] + 8);
      qs[j] = uint8_t(lo | (hi << 4));
    }
  }
  static void unpack_codes(const uint8_t* qs, int8_t* lb) {
    for (int64_t j = 0; j < kQ4_0Block / 2; ++j) {
      lb[j] = int8_t(int(qs[j] & 0x0F) - 8);
      lb[j + kQ4_0Block / 2] = int8_t(int(qs[j] >> 4) - 8);
    }
  }
};

template struct GgufBlockCodec<Q4_0Format>;

void fake_quant_q4_0_in_range_bits(const float* x, float* y, uint32_t* in_range, int64_t rows, int64_t cols) {
  constexpr int64_t n = kQ4_0Block;
  check_shape(Q4_0Format::kLayout.codec, rows, cols, n, "block");
  const int64_t total = rows * (cols / n);
  for (int64_t i = 0; i < total; ++i) {
    i += q4_0_fake_quant_blocks_avx2(x + i * n, y + i * n, in_range + i, total - i);
    if (i == total) break;
    // The portable block: a tiny scale here, every block on a CPU without the kernel. A block the
    // codec rejects is left to fake_quant_q4_0, which names the first failure in its own order.
    const float* xb = x + i * n;
    float* yb = y + i * n;
    bool finite = true;
    for (int64_t j = 0; j < n; ++j) finite = finite & std::isfinite(xb[j]);
    const float d = Q4_0Format::rtn_scale(xb);
    const float d16 = round_to_f16(d);
    if (!finite || !std::isfinite(d16)) {
      fake_quant_q4_0(x, y, rows, cols);
      fail("q4_0: block " + std::to_string(i) + " cannot be quantized");  // not reached: the codec throws
    }
    const float id = Q4_0Format::rtn_inverse(d);
    uint32_t bits = 0;
    if (!std::isfinite(id)) {  // level 0, as fake_quant_q4_0 gives
      for (int64_t j = 0; j < n; ++j) yb[j] = 0.0f * d16;
      bits = ~uint32_t(0);
    } else {
      for (int64_t j = 0; j < n; ++j) {
        const float p = xb[j] * id;
        yb[j] = Q4_0Format::rtn_level(p) * d16;
        bits |= uint32_t((p + 8.5f) < 16.0f) << j;
      }
    }
    in_range[i] = bits;
  }
}

void q4_0_apply_in_range_bits(const float* g, const uint32_t* in_range, float* out, int64_t n) {
  const int64_t blocks = n / kQ4_0Block;
  for (int64_t i = q4_0_apply_in_range_bits_avx2(g, in_range, out, blocks); i < blocks; ++i)
    for (int64_t j = 0; j < kQ4_0Block; ++j)
      out[i * kQ4_0Block + j] = g[i * kQ4_0Block + j] * ((in_range[i] >> j) & 1u ? 1.0f : 0.0f);
}

}  // namespace gq::quant
