#include "engine/int_dot.h"

#include <cpuid.h>
#include <immintrin.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <string>

#include "io/error.h"
#include "io/half.h"
#include "quant/q8_0.h"

// GCC 12's avx512fintrin.h inserts into an undefined register and warns about it.
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"

// Built for the baseline x86-64 target: the SIMD kernels are compiled for their instruction sets
// by attribute and chosen at run time, so the binary runs anywhere. This file is compiled with
// -ffp-contract=off (engine/CMakeLists.txt): a fused multiply-add in one path and not the other
// would break the bit-for-bit agreement.

namespace gq::engine {

namespace {

uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// ---- Portable scalar kernels: the definition of the order (see int_dot.h). ----

// The final reduction of the two accumulator sets.
float reduce_sets(const float* set0, const float* set1) {
  float l[8];
  for (int g = 0; g < 8; ++g) l[g] = set0[g] + set1[g];
  for (int g = 0; g < 4; ++g) l[g] = l[g] + l[g + 4];
  for (int g = 0; g < 2; ++g) l[g] = l[g] + l[g + 2];
  return l[0] + l[1];
}

// Adds activation block `ab` (32 levels w of the weight, scale dw) into its accumulator set.
void accumulate_scalar(const int8_t* w, float dw, const uint8_t* ab, int64_t index, float (*acc)[8]) {
  const int8_t* a = reinterpret_cast<const int8_t*>(ab + 2);
  const float d = dw * f16_to_f32(u16_at(ab));
  float* set = acc[index % 2];
  for (int g = 0; g < 8; ++g) {
    int32_t s = 0;
    for (int i = 4 * g; i < 4 * g + 4; ++i) s += int32_t(w[i]) * int32_t(a[i]);
    set[g] = set[g] + float(s) * d;
  }
}

float q4_0_scalar(const uint8_t* w, const uint8_t* a, int64_t n) {
  float acc[2][8] = {};
  int8_t lv[32];
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* wb = w + b * 18;
    for (int j = 0; j < 16; ++j) {
      lv[j] = int8_t((wb[2 + j] & 0x0f) - 8);
      lv[j + 16] = int8_t((wb[2 + j] >> 4) - 8);
    }
    accumulate_scalar(lv, f16_to_f32(u16_at(wb)), a + b * kQ8BlockBytes, b, acc);
  }
  return reduce_sets(acc[0], acc[1]);
}

float q8_0_scalar(const uint8_t* w, const uint8_t* a, int64_t n) {
  float acc[2][8] = {};
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* wb = w + b * 34;
    accumulate_scalar(reinterpret_cast<const int8_t*>(wb + 2), f16_to_f32(u16_at(wb)), a + b * kQ8BlockBytes, b, acc);
  }
  return reduce_sets(acc[0], acc[1]);
}

// Q2_0: 64 values per block, element j at bits 2 * (j % 4) of byte j / 4, stored as level + 1.
float q2_0_scalar(const uint8_t* w, const uint8_t* a, int64_t n) {
  float acc[2][8] = {};
  int8_t lv[32];
  for (int64_t b = 0; b < n / 64; ++b) {
    const uint8_t* wb = w + b * 18;
    const float dw = f16_to_f32(u16_at(wb));
    for (int half = 0; half < 2; ++half) {
      for (int j = 0; j < 32; ++j) lv[j] = int8_t(((wb[2 + 8 * half + j / 4] >> (2 * (j % 4))) & 3) - 1);
      accumulate_scalar(lv, dw, a + (2 * b + half) * kQ8BlockBytes, 2 * b + half, acc);
    }
  }
  return reduce_sets(acc[0], acc[1]);
}

// ---- x86 SIMD kernels: the same sums, 8 group sums per 256-bit register. ----

#define GQ_TARGET_AVX2 __attribute__((target("avx2,f16c")))
#define GQ_TARGET_VNNI __attribute__((target("avx2,f16c,avx512f,avx512vl,avx512vnni")))

GQ_TARGET_AVX2 inline __m256i q4_0_levels(const uint8_t* qs) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i b = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f));
  return _mm256_sub_epi8(b, _mm256_set1_epi8(8));
}

GQ_TARGET_AVX2 inline __m256i q8_0_levels(const uint8_t* qs) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs));
}

// The 32 levels of half `half` of a Q2_0 block's codes: each code byte spread over its four
// values, then value i of the four takes bits 2i..2i+1.
GQ_TARGET_AVX2 inline __m256i q2_0_levels(const uint8_t* qs, int half) {
  int64_t v;
  std::memcpy(&v, qs + 8 * half, 8);
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3,  //
                                          4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7);
  const __m256i r = _mm256_shuffle_epi8(_mm256_set1_epi64x(v), spread);
  __m256i c = _mm256_and_si256(r, _mm256_set1_epi32(0x00000003));
  c = _mm256_or_si256(c, _mm256_and_si256(_mm256_srli_epi16(r, 2), _mm256_set1_epi32(0x00000300)));
  c = _mm256_or_si256(c, _mm256_and_si256(_mm256_srli_epi16(r, 4), _mm256_set1_epi32(0x00030000)));
  c = _mm256_or_si256(c, _mm256_and_si256(_mm256_srli_epi16(r, 6), _mm256_set1_epi32(0x03000000)));
  return _mm256_sub_epi8(c, _mm256_set1_epi8(1));
}

GQ_TARGET_AVX2 inline float reduce_sets_avx(__m256 set0, __m256 set1) {
  const __m256 l = _mm256_add_ps(set0, set1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(l), _mm256_extractf128_ps(l, 1));  // l[g] + l[g + 4]
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));                                          // + 2 apart
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));                                      // + 1 apart
  return _mm_cvtss_f32(h);
}

// Group sums s[g] = Σ_{i in 4g..4g+3} w_i a_i of signed bytes: |w| times a with w's sign (the
// activation codes stay in -127..127, so maddubs' int16 pairs cannot saturate even for w = -128).
GQ_TARGET_AVX2 inline __m256i group_sums_avx2(__m256i w, __m256i a) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

GQ_TARGET_VNNI inline __m256i group_sums_vnni(__m256i w, __m256i a) {
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

// acc += float(s) * (dw * da) for activation block ab.
#define GQ_ACCUMULATE(GROUP_SUMS, LEVELS, DW, AB, ACC)                                                         \
  do {                                                                                                       \
    const __m256i s_ = GROUP_SUMS(LEVELS, _mm256_loadu_si256(reinterpret_cast<const __m256i*>((AB) + 2)));   \
    const float d_ = (DW) * _cvtsh_ss(u16_at(AB));                                                           \
    ACC = _mm256_add_ps(ACC, _mm256_mul_ps(_mm256_cvtepi32_ps(s_), _mm256_set1_ps(d_)));                     \
  } while (0)

#define GQ_DEFINE_SIMD_KERNELS(SUFFIX, TARGET, GROUP_SUMS)                                                     \
  [[maybe_unused]] TARGET float q4_0_##SUFFIX(const uint8_t* w, const uint8_t* a, int64_t n) {                                \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                           \
    const int64_t nb = n / 32;                                                                               \
    int64_t b = 0;                                                                                           \
    for (; b + 1 < nb; b += 2) {                                                                             \
      const uint8_t *w0 = w + b * 18, *w1 = w0 + 18;                                                         \
      GQ_ACCUMULATE(GROUP_SUMS, q4_0_levels(w0 + 2), _cvtsh_ss(u16_at(w0)), a + b * 34, acc0);               \
      GQ_ACCUMULATE(GROUP_SUMS, q4_0_levels(w1 + 2), _cvtsh_ss(u16_at(w1)), a + b * 34 + 34, acc1);          \
    }                                                                                                        \
    if (b < nb) GQ_ACCUMULATE(GROUP_SUMS, q4_0_levels(w + b * 18 + 2), _cvtsh_ss(u16_at(w + b * 18)), a + b * 34, acc0); \
    return reduce_sets_avx(acc0, acc1);                                                                      \
  }                                                                                                          \
  [[maybe_unused]] TARGET float q8_0_##SUFFIX(const uint8_t* w, const uint8_t* a, int64_t n) {                                \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                           \
    const int64_t nb = n / 32;                                                                               \
    int64_t b = 0;                                                                                           \
    for (; b + 1 < nb; b += 2) {                                                                             \
      const uint8_t *w0 = w + b * 34, *w1 = w0 + 34;                                                         \
      GQ_ACCUMULATE(GROUP_SUMS, q8_0_levels(w0 + 2), _cvtsh_ss(u16_at(w0)), a + b * 34, acc0);               \
      GQ_ACCUMULATE(GROUP_SUMS, q8_0_levels(w1 + 2), _cvtsh_ss(u16_at(w1)), a + b * 34 + 34, acc1);          \
    }                                                                                                        \
    if (b < nb) GQ_ACCUMULATE(GROUP_SUMS, q8_0_levels(w + b * 34 + 2), _cvtsh_ss(u16_at(w + b * 34)), a + b * 34, acc0); \
    return reduce_sets_avx(acc0, acc1);                                                                      \
  }                                                                                                          \
  /* A Q2_0 block covers two activation blocks: the first goes to set 0, the second to set 1. */            \
  TARGET float q2_0_##SUFFIX(const uint8_t* w, const uint8_t* a, int64_t n) {                                \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                           \
    for (int64_t b = 0; b < n / 64; ++b) {                                                                   \
      const uint8_t* wb = w + b * 18;                                                                        \
      const float dw = _cvtsh_ss(u16_at(wb));                                                                \
      GQ_ACCUMULATE(GROUP_SUMS, q2_0_levels(wb + 2, 0), dw, a + 2 * b * 34, acc0);                           \
      GQ_ACCUMULATE(GROUP_SUMS, q2_0_levels(wb + 2, 1), dw, a + 2 * b * 34 + 34, acc1);                      \
    }                                                                                                        \
    return reduce_sets_avx(acc0, acc1);                                                                      \
  }

GQ_DEFINE_SIMD_KERNELS(avx2, GQ_TARGET_AVX2, group_sums_avx2)
GQ_DEFINE_SIMD_KERNELS(vnni256, GQ_TARGET_VNNI, group_sums_vnni)

// 512-bit VNNI: two blocks per instruction, block b in the low 256 bits (set 0) and block b + 1 in
// the high ones (set 1), so one register holds both accumulator sets of the order above.
#define GQ_TARGET_VNNI512 __attribute__((target("avx2,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

GQ_TARGET_VNNI512 inline __m512 block_pair_products(__m256i w0, __m256i w1, const uint8_t* a0, float d0, float d1) {
  const __m512i w = _mm512_inserti64x4(_mm512_inserti64x4(_mm512_setzero_si512(), w0, 0), w1, 1);
  const __m512i a = _mm512_inserti64x4(
      _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a0 + 2)), 0),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a0 + kQ8BlockBytes + 2)), 1);
  // |w| and a with w's sign (AVX-512 has no sign_epi8): a negated where w < 0.
  const __m512i sa = _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), _mm512_setzero_si512(), a);
  const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(w), sa);
  const __m512 d = _mm512_mask_blend_ps(__mmask16(0xff00), _mm512_set1_ps(d0), _mm512_set1_ps(d1));
  return _mm512_mul_ps(_mm512_cvtepi32_ps(s), d);
}

#define GQ_DEFINE_VNNI512_KERNEL(TYPE, BYTES)                                                                  \
  GQ_TARGET_VNNI512 float TYPE##_vnni(const uint8_t* w, const uint8_t* a, int64_t n) {                         \
    __m512 acc = _mm512_setzero_ps();                                                                        \
    const int64_t nb = n / 32;                                                                               \
    int64_t b = 0;                                                                                           \
    for (; b + 1 < nb; b += 2) {                                                                             \
      const uint8_t *w0 = w + b * BYTES, *w1 = w0 + BYTES, *a0 = a + b * kQ8BlockBytes;                      \
      const float d0 = _cvtsh_ss(u16_at(w0)) * _cvtsh_ss(u16_at(a0));                                        \
      const float d1 = _cvtsh_ss(u16_at(w1)) * _cvtsh_ss(u16_at(a0 + kQ8BlockBytes));                        \
      acc = _mm512_add_ps(acc, block_pair_products(TYPE##_levels(w0 + 2), TYPE##_levels(w1 + 2), a0, d0, d1)); \
    }                                                                                                        \
    __m256 set0 = _mm512_castps512_ps256(acc);                                                               \
    const __m256 set1 = _mm512_castps512_ps256(_mm512_shuffle_f32x4(acc, acc, _MM_SHUFFLE(3, 2, 3, 2)));                  \
    if (b < nb) GQ_ACCUMULATE(group_sums_vnni, TYPE##_levels(w + b * BYTES + 2), _cvtsh_ss(u16_at(w + b * BYTES)), a + b * kQ8BlockBytes, set0); \
    return reduce_sets_avx(set0, set1);                                                                      \
  }

GQ_DEFINE_VNNI512_KERNEL(q4_0, 18)
GQ_DEFINE_VNNI512_KERNEL(q8_0, 34)

// Four weight rows (`stride` bytes apart) against one activation row: each row's arithmetic is
// TYPE##_vnni's, the activation blocks are loaded once for the four.
#define GQ_DEFINE_VNNI512_ROWS4(TYPE, BYTES)                                                                   \
  GQ_TARGET_VNNI512 void TYPE##_vnni_rows4(const uint8_t* w, size_t stride, const uint8_t* a, int64_t n, float* out) { \
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};    \
    const int64_t nb = n / 32;                                                                               \
    int64_t b = 0;                                                                                           \
    for (; b + 1 < nb; b += 2) {                                                                             \
      const uint8_t* a0 = a + b * kQ8BlockBytes;                                                             \
      const float da0 = _cvtsh_ss(u16_at(a0)), da1 = _cvtsh_ss(u16_at(a0 + kQ8BlockBytes));                 \
      for (int r = 0; r < 4; ++r) {                                                                          \
        const uint8_t *w0 = w + r * stride + b * BYTES, *w1 = w0 + BYTES;                                    \
        const float d0 = _cvtsh_ss(u16_at(w0)) * da0, d1 = _cvtsh_ss(u16_at(w1)) * da1;                      \
        acc[r] = _mm512_add_ps(acc[r], block_pair_products(TYPE##_levels(w0 + 2), TYPE##_levels(w1 + 2), a0, d0, d1)); \
      }                                                                                                      \
    }                                                                                                        \
    for (int r = 0; r < 4; ++r) {                                                                            \
      __m256 set0 = _mm512_castps512_ps256(acc[r]);                                                          \
      const __m256 set1 = _mm512_castps512_ps256(_mm512_shuffle_f32x4(acc[r], acc[r], _MM_SHUFFLE(3, 2, 3, 2)));             \
      const uint8_t* wr = w + r * stride;                                                                    \
      if (b < nb) GQ_ACCUMULATE(group_sums_vnni, TYPE##_levels(wr + b * BYTES + 2), _cvtsh_ss(u16_at(wr + b * BYTES)), a + b * kQ8BlockBytes, set0); \
      out[r] = reduce_sets_avx(set0, set1);                                                                  \
    }                                                                                                        \
  }

GQ_DEFINE_VNNI512_ROWS4(q4_0, 18)
GQ_DEFINE_VNNI512_ROWS4(q8_0, 34)

// ---- Q4_0 weights against activations repacked for AVX-512 VNNI (int_dot.h) ----
// Per pair of activation blocks (64 values): 64 code bytes in the order one nibble decode of two
// weight blocks yields (low nibbles of block 0, of block 1, high nibbles of block 0, of block 1), so
// dpbusd lane L holds group L % 4 + 4 * (L / 8) of block L / 4 % 2; then those 16 group sums times -8
// as int32 (dpbusd's starting value: Σ q a - 8 Σ a = Σ (q - 8) a, exactly, with no sign trick); then
// the 16 lanes' activation scales as floats. The float arithmetic per lane is the scalar definition's.
constexpr size_t kPackedPairBytes = 192;
constexpr size_t kPrefetchRows = 8;  // two 4-row tiles ahead: best of 4, 8, 16 rows and 2-8 KiB on e2b-width decode

GQ_TARGET_VNNI512 inline __m512i q4_0_pair_codes(const uint8_t* w0) {
  const __m256i t = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w0 + 2))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(w0 + 18 + 2)), 1);
  const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(t), _mm256_srli_epi16(t, 4), 1);
  return _mm512_and_si512(z, _mm512_set1_epi8(0x0f));
}

// [dw0 ×4, dw1 ×4, dw0 ×4, dw1 ×4] for the pair at w0.
GQ_TARGET_VNNI512 inline __m512 q4_0_pair_scales(const uint8_t* w0) {
  const __m128 f = _mm_cvtph_ps(_mm_cvtsi32_si128(int(uint32_t(u16_at(w0)) | uint32_t(u16_at(w0 + 18)) << 16)));
  const __m512i lanes = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
  return _mm512_permutexvar_ps(lanes, _mm512_castps128_ps512(f));
}

// Lanes of set 0 (the even blocks) are 128-bit chunks 0 and 2, set 1's chunks 1 and 3.
GQ_TARGET_VNNI512 inline float reduce_packed(__m512 acc) {
  const __m512 sets = _mm512_shuffle_f32x4(acc, acc, _MM_SHUFFLE(3, 1, 2, 0));
  return reduce_sets_avx(_mm512_castps512_ps256(sets), _mm512_castps512_ps256(_mm512_shuffle_f32x4(sets, sets, _MM_SHUFFLE(3, 2, 3, 2))));
}

template <int R, int C>
GQ_TARGET_VNNI512 void q4_0_packed_tile_rc(const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride,
                                           int64_t n, float* out, size_t out_stride) {
  __m512 acc[R][C];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) acc[r][c] = _mm512_setzero_ps();
  for (int64_t p = 0; p < n / 64; ++p) {
    for (int r = 0; r < R; ++r) {
      const uint8_t* w0 = w + r * w_stride + p * 36;
      // The next tile's rows (contiguous after these in a matmul): the hardware prefetcher alone
      // left decode waiting on these loads at E2B width (weights far beyond the caches).
      _mm_prefetch(reinterpret_cast<const char*>(w0 + kPrefetchRows * w_stride), _MM_HINT_T0);
      const __m512i q = q4_0_pair_codes(w0);
      const __m512 dw = q4_0_pair_scales(w0);
      for (int c = 0; c < C; ++c) {
        const uint8_t* ap = a + c * a_stride + p * kPackedPairBytes;
        const __m512i s = _mm512_dpbusd_epi32(_mm512_loadu_si512(ap + 64), q, _mm512_loadu_si512(ap));
        const __m512 d = _mm512_mul_ps(dw, _mm512_loadu_ps(reinterpret_cast<const float*>(ap + 128)));
        acc[r][c] = _mm512_add_ps(acc[r][c], _mm512_mul_ps(_mm512_cvtepi32_ps(s), d));
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < C; ++c) out[c * out_stride + r] = reduce_packed(acc[r][c]);
}

using PackedTileFn = void (*)(const uint8_t*, size_t, const uint8_t*, size_t, int64_t, float*, size_t);

template <int R, int... Cs>
constexpr std::array<PackedTileFn, sizeof...(Cs)> packed_tiles_of_rows() {
  return {q4_0_packed_tile_rc<R, Cs>...};
}

Isa isa_from_environment() {
  const char* env = std::getenv("GQ_ENGINE_ISA");
  if (!env || !*env) {
    if (isa_supported(Isa::Avx512Vnni)) return Isa::Avx512Vnni;
    return isa_supported(Isa::Avx2) ? Isa::Avx2 : Isa::Scalar;
  }
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni})
    if (std::string(env) == isa_name(isa)) {
      if (!isa_supported(isa)) throw FormatError(std::string("GQ_ENGINE_ISA=") + env + ": this CPU does not support it");
      return isa;
    }
  throw FormatError(std::string("GQ_ENGINE_ISA=") + env + ": not one of scalar, avx2, avx512vnni");
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx2: return "avx2";
    case Isa::Avx512Vnni: return "avx512vnni";
    default: return "scalar";
  }
}

namespace {
// CPUID leaf 1, ECX bit 29: clang's __builtin_cpu_supports has no "f16c".
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
}
}  // namespace

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::Avx2: return __builtin_cpu_supports("avx2") && cpu_has_f16c();
    case Isa::Avx512Vnni:
      return isa_supported(Isa::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    default: return true;
  }
}

Isa selected_isa() {
  static const Isa isa = isa_from_environment();
  return isa;
}

bool has_int_kernel(GgmlType type) { return type == GgmlType::Q4_0 || type == GgmlType::Q8_0 || type == GgmlType::Q2_0; }

namespace {

// ggml's reference rule on one block (quant/q8_0.h): d = amax / 127, id = 1 / d (0 when d is 0 or
// 1 / d overflows), code = roundf(x * id), half away from zero, stored fp16(d).
GQ_TARGET_AVX2 void quantize_block_avx2(const float* x, uint8_t* out) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  __m256 v[4], m = _mm256_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(x + 8 * i);
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign_bit, v[i]));
  }
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
  const float d = _mm_cvtss_f32(h) / 127.0f;
  float id = d != 0.0f ? 1.0f / d : 0.0f;
  if (id == __builtin_inff()) id = 0.0f;
  const uint16_t dh = f32_to_f16(d);
  std::memcpy(out, &dh, 2);
  __m256i q[4];
  for (int i = 0; i < 4; ++i) {
    const __m256 p = _mm256_mul_ps(v[i], _mm256_set1_ps(id));
    const __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    // A fraction of at least one half (exact: p - trunc(p)) rounds away from zero.
    const __m256 frac = _mm256_andnot_ps(sign_bit, _mm256_sub_ps(p, t));
    const __m256 away = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                      _mm256_or_ps(_mm256_and_ps(p, sign_bit), _mm256_set1_ps(1.0f)));
    q[i] = _mm256_cvttps_epi32(_mm256_add_ps(t, away));
  }
  // int32 -> int8 (codes are within -127..127); packs work per 128-bit lane, the permute restores order.
  const __m256i q16 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  const __m256i q8 = _mm256_permutevar8x32_epi32(q16, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 2), q8);
}

}  // namespace

void quantize_activations_q8_0(const float* x, int64_t n, uint8_t* out) {
  if (selected_isa() == Isa::Scalar) return quant::Q8_0Codec::quantize_rtn(x, out, 1, n);
  for (int64_t b = 0; b < n / kQ8Block; ++b) quantize_block_avx2(x + b * kQ8Block, out + b * kQ8BlockBytes);
}

IntDotFn int_dot_kernel(GgmlType type, Isa isa) {
  static constexpr IntDotFn kTable[3][3] = {
      {q4_0_scalar, q8_0_scalar, q2_0_scalar}, {q4_0_avx2, q8_0_avx2, q2_0_avx2}, {q4_0_vnni, q8_0_vnni, q2_0_vnni256}};
  const int t = type == GgmlType::Q4_0 ? 0 : type == GgmlType::Q8_0 ? 1 : type == GgmlType::Q2_0 ? 2 : -1;
  return t < 0 ? nullptr : kTable[int(isa)][t];
}

IntDot4Fn int_dot4_kernel(GgmlType type, Isa isa) {
  if (isa != Isa::Avx512Vnni) return nullptr;
  return type == GgmlType::Q4_0 ? q4_0_vnni_rows4 : type == GgmlType::Q8_0 ? q8_0_vnni_rows4 : nullptr;
}

float int_dot(GgmlType type, const uint8_t* w, const uint8_t* a, int64_t n, Isa isa) {
  const IntDotFn f = int_dot_kernel(type, isa);
  if (!f) throw FormatError(std::string("internal: no integer kernel for ") + ggml_type_name(type));
  return f(w, a, n);
}

bool has_packed_q4_0_kernel(GgmlType type, Isa isa, int64_t n) {
  return type == GgmlType::Q4_0 && isa == Isa::Avx512Vnni && n % 64 == 0;
}

size_t packed_activation_bytes(int64_t n) { return size_t(n / 64) * kPackedPairBytes; }

void pack_activations_for_q4_0(const uint8_t* q8, int64_t n, uint8_t* out) {
  for (int64_t p = 0; p < n / 64; ++p) {
    uint8_t* o = out + p * kPackedPairBytes;
    for (int lane = 0; lane < 16; ++lane) {
      const int block = lane / 4 % 2, group = lane % 4 + 4 * (lane / 8);
      const uint8_t* ab = q8 + (2 * p + block) * kQ8BlockBytes;
      std::memcpy(o + 4 * lane, ab + 2 + 4 * group, 4);
      int32_t sum = 0;
      for (int i = 0; i < 4; ++i) sum += int8_t(ab[2 + 4 * group + i]);
      const int32_t start = -8 * sum;
      const float da = f16_to_f32(u16_at(ab));
      std::memcpy(o + 64 + 4 * lane, &start, 4);
      std::memcpy(o + 128 + 4 * lane, &da, 4);
    }
  }
}

void q4_0_packed_tile(int rows, int cols, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride,
                      int64_t n, float* out, size_t out_stride) {
  static const std::array<std::array<PackedTileFn, 4>, 4> kTiles = {
      packed_tiles_of_rows<1, 1, 2, 3, 4>(), packed_tiles_of_rows<2, 1, 2, 3, 4>(),
      packed_tiles_of_rows<3, 1, 2, 3, 4>(), packed_tiles_of_rows<4, 1, 2, 3, 4>()};
  if (rows < 1 || rows > 4 || cols < 1 || cols > 4) throw FormatError("internal: q4_0_packed_tile of " +
      std::to_string(rows) + "x" + std::to_string(cols));
  kTiles[size_t(rows - 1)][size_t(cols - 1)](w, w_stride, a, a_stride, n, out, out_stride);
}

}  // namespace gq::engine
