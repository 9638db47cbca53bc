#include "engine/channel_int_dot.h"

#include <immintrin.h>

#include <cstring>
#include <string>

#include "engine/thread_pool.h"
#include "io/error.h"

// Baseline x86-64 build: the SIMD kernels are compiled for their instruction sets by attribute and
// chosen at run time. All sums are integer, so the kernels need no float-order care.

namespace gq::engine {

namespace {

// Level k of a packed row (two's complement, `bits` wide).
inline int32_t level_at(const uint8_t* w, int bits, int64_t k) {
  const int per_byte = 8 / bits;
  const int shift = bits * int(k % per_byte);
  const int v = (w[k / per_byte] >> shift) & ((1 << bits) - 1);
  return v >= (1 << (bits - 1)) ? v - (1 << bits) : v;
}

// Values [from, n) one at a time: the scalar definition, and every SIMD kernel's tail.
inline int32_t tail_sum(const uint8_t* w, int bits, const int8_t* a, int64_t from, int64_t n) {
  int32_t s = 0;
  for (int64_t k = from; k < n; ++k) s += level_at(w, bits, k) * int32_t(a[k]);
  return s;
}

template <int Bits>
int32_t dot_scalar(const uint8_t* w, const int8_t* a, int64_t n) {
  return tail_sum(w, Bits, a, 0, n);
}

#define GQ_TARGET_AVX2 __attribute__((target("avx2")))
#define GQ_TARGET_VNNI __attribute__((target("avx2,avx512f,avx512vl,avx512vnni")))

// 16 levels starting at value k (a multiple of 16) as int16 lanes: each packed byte is spread
// over the lanes of its values, shifted so the value's top bit is bit 15 (a multiply by a power
// of two), then shifted back arithmetically, which sign-extends it.
template <int Bits>
GQ_TARGET_AVX2 inline __m256i levels16(const uint8_t* w, int64_t k) {
  const uint8_t* p = w + k * Bits / 8;
  if constexpr (Bits == 8) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else if constexpr (Bits == 4) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
    const __m128i spread = _mm_shuffle_epi8(bytes, _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    const __m256i u = _mm256_cvtepu8_epi16(spread);
    const __m256i up = _mm256_mullo_epi16(u, _mm256_set1_epi32(int32_t((1u << 8) << 16 | (1u << 12))));
    return _mm256_srai_epi16(up, 12);
  } else {
    int32_t v;
    std::memcpy(&v, p, 4);
    const __m128i spread =
        _mm_shuffle_epi8(_mm_cvtsi32_si128(v), _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
    const __m256i u = _mm256_cvtepu8_epi16(spread);
    const __m256i up = _mm256_mullo_epi16(
        u, _mm256_setr_epi16(1 << 14, 1 << 12, 1 << 10, 1 << 8, 1 << 14, 1 << 12, 1 << 10, 1 << 8, 1 << 14, 1 << 12,
                             1 << 10, 1 << 8, 1 << 14, 1 << 12, 1 << 10, 1 << 8));
    return _mm256_srai_epi16(up, 14);
  }
}

GQ_TARGET_AVX2 inline __m256i acts16(const int8_t* a, int64_t k) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + k)));
}

GQ_TARGET_AVX2 inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

template <int Bits>
GQ_TARGET_AVX2 int32_t dot_avx2(const uint8_t* w, const int8_t* a, int64_t n) {
  __m256i acc = _mm256_setzero_si256();
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(levels16<Bits>(w, k), acts16(a, k)));
  return hsum_epi32(acc) + tail_sum(w, Bits, a, k, n);
}

template <int Bits>
GQ_TARGET_VNNI int32_t dot_vnni(const uint8_t* w, const int8_t* a, int64_t n) {
  __m256i acc = _mm256_setzero_si256();
  int64_t k = 0;
  for (; k + 16 <= n; k += 16) acc = _mm256_dpwssd_epi32(acc, levels16<Bits>(w, k), acts16(a, k));
  return hsum_epi32(acc) + tail_sum(w, Bits, a, k, n);
}

int width_index(int bits) { return bits == 8 ? 0 : bits == 4 ? 1 : bits == 2 ? 2 : -1; }

}  // namespace

size_t channel_row_bytes(int bits, int64_t n) { return size_t((n * bits + 7) / 8); }

ChannelDotFn channel_int_dot_kernel(int bits, Isa isa) {
  static constexpr ChannelDotFn kTable[3][3] = {{dot_scalar<8>, dot_scalar<4>, dot_scalar<2>},
                                                {dot_avx2<8>, dot_avx2<4>, dot_avx2<2>},
                                                {dot_vnni<8>, dot_vnni<4>, dot_vnni<2>}};
  const int t = width_index(bits);
  return t < 0 ? nullptr : kTable[int(isa)][t];
}

namespace {

ChannelDotFn checked_kernel(int bits, int64_t n, Isa isa) {
  const ChannelDotFn fn = channel_int_dot_kernel(bits, isa);
  if (!fn) throw FormatError("channel integer dot: no kernel for " + std::to_string(bits) + "-bit levels");
  if (n < 0 || n > kMaxChannelDotLength)
    throw FormatError("channel integer dot: row length " + std::to_string(n) + " outside [0, " +
                      std::to_string(kMaxChannelDotLength) + "] (int32 sums would not be exact)");
  return fn;
}

}  // namespace

int32_t channel_int_dot(int bits, const uint8_t* w, const int8_t* a, int64_t n, Isa isa) {
  return checked_kernel(bits, n, isa)(w, a, n);
}

void channel_int_matvec(int bits, const uint8_t* w, int64_t rows, const int8_t* a, int64_t n, int32_t* out, Isa isa) {
  const ChannelDotFn fn = checked_kernel(bits, n, isa);
  const size_t stride = channel_row_bytes(bits, n);
  engine_pool().run(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) out[r] = fn(w + size_t(r) * stride, a, n);
  });
}

}  // namespace gq::engine
