#include "quant/q4_0_avx2.h"

#include <immintrin.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "io/error.h"
#include "io/half.h"
#include "quant/block_io.h"

// Built for the baseline x86-64 target; the kernel is compiled for AVX2 by attribute and chosen at
// run time. No FMA in the target (and -ffp-contract=off on this file, quant/CMakeLists.txt): ggml
// rounds x * id and + 8.5 separately.

namespace gq::quant {

namespace {

bool cpu_has_avx2() { return __builtin_cpu_supports("avx2"); }

bool enabled_from_environment() {
  const char* env = std::getenv("GQ_QUANT_ISA");
  if (!env || !*env) return cpu_has_avx2();
  const std::string v = env;
  if (v == "scalar") return false;
  if (v == "avx2") {
    if (!cpu_has_avx2()) throw FormatError("GQ_QUANT_ISA=avx2: this CPU does not support it");
    return true;
  }
  throw FormatError("GQ_QUANT_ISA=" + v + ": not one of scalar, avx2");
}

// 8 codes (int32 lanes, 0..15) of 8 values: min(15, trunc(x * id + 8.5)), each step rounded.
__attribute__((target("avx2"))) inline __m256i codes8(__m256 x, __m256 id) {
  const __m256 v = _mm256_add_ps(_mm256_mul_ps(x, id), _mm256_set1_ps(8.5f));
  const __m256i c = _mm256_cvttps_epi32(v);  // v in [0.5 - eps, 16.5 + eps]: truncation in range
  return _mm256_max_epi32(_mm256_min_epi32(c, _mm256_set1_epi32(15)), _mm256_setzero_si256());
}

// The block's values and their magnitudes; false if one is not finite (|x| < inf is false for
// inf and for NaN: an ordered compare).
__attribute__((target("avx2"))) inline bool load_block(const float* xb, __m256 v[4], __m256 a[4]) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 inf = _mm256_set1_ps(__builtin_inff());
  for (int k = 0; k < 4; ++k) {
    v[k] = _mm256_loadu_ps(xb + 8 * k);
    a[k] = _mm256_and_ps(v[k], abs_mask);
  }
  const __m256 fin = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(a[0], inf, _CMP_LT_OQ), _mm256_cmp_ps(a[1], inf, _CMP_LT_OQ)),
                                   _mm256_and_ps(_mm256_cmp_ps(a[2], inf, _CMP_LT_OQ), _mm256_cmp_ps(a[3], inf, _CMP_LT_OQ)));
  return _mm256_movemask_ps(fin) == 0xff;
}

// ggml keeps the signed value of the first element of largest magnitude (strict >), and 0.0f
// (not a -0 element) when every magnitude is 0.
__attribute__((target("avx2"))) inline float signed_max(const float* xb, const __m256 a[4]) {
  __m256 m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  const float amax = _mm_cvtss_f32(h);
  if (amax == 0.0f) return 0.0f;
  const __m256 am = _mm256_set1_ps(amax);
  const uint32_t eq = uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(a[0], am, _CMP_EQ_OQ))) |
                      uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(a[1], am, _CMP_EQ_OQ))) << 8 |
                      uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(a[2], am, _CMP_EQ_OQ))) << 16 |
                      uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(a[3], am, _CMP_EQ_OQ))) << 24;
  return xb[__builtin_ctz(eq)];
}

}  // namespace

bool q4_0_avx2_enabled() {
  static const bool yes = enabled_from_environment();
  return yes;
}

__attribute__((target("avx2"))) int64_t q4_0_rtn_blocks_avx2(const float* x, uint8_t* out, int64_t blocks) {
  if (!q4_0_avx2_enabled()) return 0;
  for (int64_t i = 0; i < blocks; ++i) {
    const float* xb = x + i * 32;
    __m256 v[4], a[4];
    if (!load_block(xb, v, a)) return i;
    const float max = signed_max(xb, a);
    const float d = max / -8.0f;
    const uint16_t dh = f32_to_f16(d);
    if ((dh & 0x7c00u) == 0x7c00u) return i;  // fp16(d) overflows: the portable loop names the block
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (id == __builtin_inff() || id == -__builtin_inff()) return i;  // |d| < 2^-128: level 0, portable loop
    const __m256 idv = _mm256_set1_ps(id);
    // Byte j = code j | code j+16 << 4.
    const __m256i lo = _mm256_or_si256(codes8(v[0], idv), _mm256_slli_epi32(codes8(v[2], idv), 4));
    const __m256i hi = _mm256_or_si256(codes8(v[1], idv), _mm256_slli_epi32(codes8(v[3], idv), 4));
    // packus_epi32 interleaves the 128-bit lanes: lo0-3 hi0-3 lo4-7 hi4-7; the permute restores order.
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    uint8_t* blk = out + i * 18;
    store_u16le(blk, dh);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blk + 2), bytes);
  }
  return blocks;
}

// y = clamp(floor(x * id + 8.5), 0, 15) - 8 times fp16(d) (the float ops of Q4_0Format::rtn_level,
// each rounded as there), and bit j of in_range[i] = x_j * id + 8.5 < 16 (not clamped at the top).
__attribute__((target("avx2"))) int64_t q4_0_fake_quant_blocks_avx2(const float* x, float* y, uint32_t* in_range,
                                                                    int64_t blocks) {
  if (!q4_0_avx2_enabled()) return 0;
  for (int64_t i = 0; i < blocks; ++i) {
    const float* xb = x + i * 32;
    __m256 v[4], a[4];
    if (!load_block(xb, v, a)) return i;
    const float d = signed_max(xb, a) / -8.0f;
    const uint16_t dh = f32_to_f16(d);
    if ((dh & 0x7c00u) == 0x7c00u) return i;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (id == __builtin_inff() || id == -__builtin_inff()) return i;
    const __m256 idv = _mm256_set1_ps(id), d16 = _mm256_set1_ps(f16_to_f32(dh));
    const __m256 half8 = _mm256_set1_ps(8.5f), top = _mm256_set1_ps(16.0f), c15 = _mm256_set1_ps(15.0f),
                 c8 = _mm256_set1_ps(8.0f), zero = _mm256_setzero_ps();
    uint32_t bits = 0;
    for (int k = 0; k < 4; ++k) {
      const __m256 t = _mm256_add_ps(_mm256_mul_ps(v[k], idv), half8);
      // t >= 0.5 - eps (|x| <= |m|), so floor(t) >= +0 and max / min clamp as clampf does.
      const __m256 c = _mm256_min_ps(_mm256_max_ps(_mm256_floor_ps(t), zero), c15);
      _mm256_storeu_ps(y + i * 32 + 8 * k, _mm256_mul_ps(_mm256_sub_ps(c, c8), d16));
      bits |= uint32_t(_mm256_movemask_ps(_mm256_cmp_ps(t, top, _CMP_LT_OQ))) << (8 * k);
    }
    in_range[i] = bits;
  }
  return blocks;
}

// out = g * (bit ? 1.0f : 0.0f): a product, so -0, NaN and Inf come out as g * mask gives them.
__attribute__((target("avx2"))) int64_t q4_0_apply_in_range_bits_avx2(const float* g, const uint32_t* in_range,
                                                                      float* out, int64_t blocks) {
  if (!q4_0_avx2_enabled()) return 0;
  const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < blocks; ++i) {
    const uint32_t bits = in_range[i];
    for (int k = 0; k < 4; ++k) {
      const __m256i b = _mm256_and_si256(_mm256_set1_epi32(int((bits >> (8 * k)) & 0xffu)), lane);
      const __m256 m = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(b, lane)), one);
      _mm256_storeu_ps(out + i * 32 + 8 * k, _mm256_mul_ps(_mm256_loadu_ps(g + i * 32 + 8 * k), m));
    }
  }
  return blocks;
}

}  // namespace gq::quant
