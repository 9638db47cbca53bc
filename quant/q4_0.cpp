#include "quant/q4_0.h"

#include <cmath>

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

}  // namespace gq::quant
