#include "quant/q2_0.h"

#include <cmath>

#include "quant/gguf_block_impl.h"

namespace gq::quant {

struct Q2_0Format : RoundfRtnLevels<kQ2_0LevelMin, kQ2_0LevelMax> {
  static constexpr GgufBlockLayout kLayout{"q2_0", kQ2_0Block, kQ2_0BlockBytes, kQ2_0LevelMin, kQ2_0LevelMax,
                                             Rounding::kHalfAway};

  static float rtn_scale(const float* xb) {  // d = amax: |x * id| <= 1, so RTN never uses level +2
    float amax = 0.0f;
    for (int64_t j = 0; j < kQ2_0Block; ++j) {
      const float a = std::fabs(xb[j]);
      if (a > amax) amax = a;
    }
    return amax;
  }
  static float rtn_inverse(float d) { return d > 0.0f ? 1.0f / d : 0.0f; }
  static int64_t rtn_blocks_fast(const float*, uint8_t*, int64_t) { return 0; }

  // Element j in byte j / 4 at bits 2 * (j % 4), as code level + 1.
  static void pack_codes(const int8_t* lb, uint8_t* qs) {
    for (int64_t k = 0; k < kQ2_0Block / 4; ++k) {
      const int8_t* l = lb + 4 * k;
      qs[k] = uint8_t(unsigned(l[0] + 1) | unsigned(l[1] + 1) << 2 | unsigned(l[2] + 1) << 4 | unsigned(l[3] + 1) << 6);
    }
  }
  static void unpack_codes(const uint8_t* qs, int8_t* lb) {
    for (int64_t j = 0; j < kQ2_0Block; ++j) lb[j] = int8_t(int((qs[j / 4] >> (2 * (j % 4))) & 3) - 1);
  }
};

template struct GgufBlockCodec<Q2_0Format>;

}  // namespace gq::quant
