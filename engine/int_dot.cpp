#include "engine/int_dot.h"

#include <immintrin.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "io/error.h"
#include "io/half.h"
#include "quant/q8_0.h"

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
  TARGET float q4_0_##SUFFIX(const uint8_t* w, const uint8_t* a, int64_t n) {                                \
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
  TARGET float q8_0_##SUFFIX(const uint8_t* w, const uint8_t* a, int64_t n) {                                \
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
GQ_DEFINE_SIMD_KERNELS(vnni, GQ_TARGET_VNNI, group_sums_vnni)

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

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    case Isa::Avx512Vnni:
      return isa_supported(Isa::Avx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512vnni");
    default: return true;
  }
}

Isa selected_isa() {
  static const Isa isa = isa_from_environment();
  return isa;
}

bool has_int_kernel(GgmlType type) { return type == GgmlType::Q4_0 || type == GgmlType::Q8_0 || type == GgmlType::Q2_0; }

void quantize_activations_q8_0(const float* x, int64_t n, uint8_t* out) { quant::Q8_0Codec::quantize_rtn(x, out, 1, n); }

IntDotFn int_dot_kernel(GgmlType type, Isa isa) {
  static constexpr IntDotFn kTable[3][3] = {
      {q4_0_scalar, q8_0_scalar, q2_0_scalar}, {q4_0_avx2, q8_0_avx2, q2_0_avx2}, {q4_0_vnni, q8_0_vnni, q2_0_vnni}};
  const int t = type == GgmlType::Q4_0 ? 0 : type == GgmlType::Q8_0 ? 1 : type == GgmlType::Q2_0 ? 2 : -1;
  return t < 0 ? nullptr : kTable[int(isa)][t];
}

float int_dot(GgmlType type, const uint8_t* w, const uint8_t* a, int64_t n, Isa isa) {
  const IntDotFn f = int_dot_kernel(type, isa);
  if (!f) throw FormatError(std::string("internal: no integer kernel for ") + ggml_type_name(type));
  return f(w, a, n);
}

}  // namespace gq::engine
