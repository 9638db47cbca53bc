#include "quant/q8_0.h"

#include <cmath>

#include "quant/gguf_block_impl.h"

namespace gq::quant {

struct Q8_0Format : RoundfRtnLevels<kQ8_0LevelMin, kQ8_0LevelMax> {
  static constexpr GgufBlockLayout kLayout{"q8_0", kQ8_0Block, kQ8_0BlockBytes, kQ8_0LevelMin, kQ8_0LevelMax,
                                             Rounding::kHalfAway};

  static float rtn_scale(const float* xb) {
    float amax = 0.0f;
    for (int64_t j = 0; j < kQ8_0Block; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    return amax / 127.0f;
  }
  static float rtn_inverse(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }
  static int64_t rtn_blocks_fast(const float*, uint8_t*, int64_t) { return 0; }

  static void pack_codes(const int8_t* lb, uint8_t* qs) {
    for (int64_t j = 0; j < kQ8_0Block; ++j) qs[j] = uint8_t(lb[j]);
  }
  static void unpack_codes(const uint8_t* qs, int8_t* lb) {
    for (int64_t j = 0; j < kQ8_0Block; ++j) lb[j] = int8_t(qs[j]);
  }
};

template struct GgufBlockCodec<Q8_0Format>;

}  // namespace gq::quant
