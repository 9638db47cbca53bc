#include "engine/channel_int_dot.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/thread_pool.h"
#include "io/half.h"
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

// ---- The exact-grid dot ----

namespace {

// Values per block and int32 accumulators per block of each width's SIMD kernel: every
// accumulator lane takes one madd (two products) per block, which is what the flush bound counts.
constexpr int grid_block_values(int bits) { return bits == 2 ? 64 : 32; }
constexpr int grid_block_accs(int bits) { return bits == 2 ? 4 : 2; }

// Element (within its block) of 16-bit lane p of an unpacklo (hi false) or unpackhi of two byte
// vectors whose 128-bit lane 0 holds the indices of elements stride * i + off0 (i = 0..15) and
// lane 1 those of stride * i + off1.
int unpacked_element(int p, bool hi, int stride, int off0, int off1) {
  return stride * ((p & 7) + (hi ? 8 : 0)) + (p < 8 ? off0 : off1);
}

// Element (within its block) that lane q of the kernel's accumulator vectors (q / 16: which
// vector, q % 16: its int16 lane) multiplies; see the lookups below.
int grid_lane_element(int bits, int q) {
  const int v = q / 16, p = q % 16;
  if (bits == 4) return unpacked_element(p, v == 1, 2, 0, 1);
  if (bits == 2) return unpacked_element(p, (v & 1) != 0, 4, v < 2 ? 0 : 2, v < 2 ? 1 : 3);
  // int8: packs_epi32 of two 8-entry gathers g0 (elements 0..7) and g1 (8..15) per 128-bit lane:
  // g0[0..3], g1[0..3], g0[4..7], g1[4..7].
  return 16 * v + (p < 4 ? p : p < 8 ? p + 4 : p < 12 ? p - 4 : p);
}

// Values [from, n) one at a time: the scalar definition, and every SIMD kernel's tail. A row
// without its int32 table (GridRow::grid null) has it rebuilt here from what it keeps.
int64_t grid_tail(const uint8_t* w, int bits, const GridRow& row, const int32_t* j, int64_t from, int64_t n) {
  const int mask = (1 << bits) - 1, per_byte = 8 / bits;
  const auto index = [&](int64_t k) { return (w[k / per_byte] >> (bits * (k % per_byte))) & mask; };
  int64_t s = 0;
  const int32_t* grid = row.grid;
  int32_t rebuilt[256];
  if (!grid && n - from < mask + 1) {  // a short tail rebuilds only the entries it reads
    for (int64_t k = from; k < n; ++k) s += int64_t(grid_row_entry(bits, row, index(k))) * j[k];
    return s;
  }
  if (!grid) {
    for (int l = 0; l <= mask; ++l) rebuilt[l] = grid_row_entry(bits, row, l);
    grid = rebuilt;
  }
  for (int64_t k = from; k < n; ++k) s += int64_t(grid[index(k)]) * j[k];
  return s;
}

// Blocks an int32 lane can take before its exact sum could leave int32: each block adds one madd,
// at most 2 * max|grid| * max|j|. At least 1 when both bounds are kGridSimdMaxAbs.
int64_t blocks_per_flush(int32_t grid_max_abs, int32_t j_max_abs, int64_t blocks) {
  const int64_t per_block = 2 * int64_t(grid_max_abs) * int64_t(j_max_abs);
  return per_block == 0 ? std::max<int64_t>(blocks, 1) : int64_t(INT32_MAX) / per_block;
}

// The int16 table entries of `Bits`-wide levels for one 32- or 64-value block into
// grid_block_accs(Bits) vectors, in grid_lane_element's order.
struct GridTables {
  __m256i low, high;      // int4 / int2: the split table's bytes in both 128-bit lanes
  __m256i base;           // int8 computed: bf16_product_base in every int16 lane
  const int32_t* grid;    // int8 gathered
};

// Kind of int8 lookup: a gather from the int32 table, or the entry computed from bf16_product_base.
enum class Int8Lookup { Gather, Computed };

template <int Bits, Int8Lookup L>
GQ_TARGET_AVX2 inline GridTables grid_tables(const GridRow& row) {
  GridTables t{};
  if constexpr (Bits == 8) {
    t.grid = row.grid;
    t.base = _mm256_set1_epi16(int16_t(row.bf16_product_base));
  } else {
    t.low = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row.split)));
    t.high = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row.split + 16)));
  }
  return t;
}

// Byte indices -> the low and high table bytes, interleaved into int16 entries.
GQ_TARGET_AVX2 inline void lookup_pair(const GridTables& t, __m256i idx, __m256i* g) {
  const __m256i lo = _mm256_shuffle_epi8(t.low, idx), hi = _mm256_shuffle_epi8(t.high, idx);
  g[0] = _mm256_unpacklo_epi8(lo, hi);
  g[1] = _mm256_unpackhi_epi8(lo, hi);
}

// Integers below 2^24 in magnitude rounded to 8 significant bits, ties to even: exact in float,
// then f32_to_bf16's rounding (io/half.h) in lanes.
GQ_TARGET_AVX2 inline __m256i round_to_bf16_integer(__m256i v) {
  const __m256i b = _mm256_castps_si256(_mm256_cvtepi32_ps(v));
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(b, 16), _mm256_set1_epi32(1));
  const __m256i r = _mm256_add_epi32(b, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd));
  return _mm256_cvttps_epi32(_mm256_castsi256_ps(_mm256_and_si256(r, _mm256_set1_epi32(int32_t(0xffff0000u)))));
}

template <int Bits, Int8Lookup L>
GQ_TARGET_AVX2 inline void grid_lookup(const uint8_t* wb, const GridTables& t, __m256i* g) {
  if constexpr (Bits == 8 && L == Int8Lookup::Computed) {
    // level * m is exact in int16 (|m| < 256 when the entries fit int16); its rounding as in
    // build_level_grid. Entries 0..7 and 8..15 of each half packed as the gathers' are.
    for (int h = 0; h < 2; ++h) {
      const __m256i levels = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb + 16 * h)));
      const __m256i p = _mm256_mullo_epi16(levels, t.base);
      g[h] = _mm256_packs_epi32(round_to_bf16_integer(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(p))),
                                round_to_bf16_integer(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(p, 1))));
    }
  } else if constexpr (Bits == 8) {
    __m256i e[4];
    for (int i = 0; i < 4; ++i)
      e[i] = _mm256_i32gather_epi32(
          t.grid, _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(wb + 8 * i))), 4);
    g[0] = _mm256_packs_epi32(e[0], e[1]);  // entries lie in int16: packs does not saturate
    g[1] = _mm256_packs_epi32(e[2], e[3]);
  } else {
    // 16 packed bytes in both 128-bit lanes; lane 1 shifted by one level width, so lane 0 holds
    // the indices of elements per_byte * i and lane 1 those of per_byte * i + 1 (int2: and +2, +3
    // in the second pair).
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb)));
    const __m256i mask = _mm256_set1_epi8(char((1 << Bits) - 1));
    if constexpr (Bits == 4) {
      lookup_pair(t, _mm256_and_si256(_mm256_srlv_epi32(b, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), mask), g);
    } else {
      lookup_pair(t, _mm256_and_si256(_mm256_srlv_epi32(b, _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2)), mask), g);
      lookup_pair(t, _mm256_and_si256(_mm256_srlv_epi32(b, _mm256_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6)), mask), g + 2);
    }
  }
}

// Adds the int32 lanes into the int64 lanes and clears them.
GQ_TARGET_AVX2 inline void flush_lanes(__m256i& acc32, __m256i& acc64) {
  acc64 = _mm256_add_epi64(acc64, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(acc32)));
  acc64 = _mm256_add_epi64(acc64, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(acc32, 1)));
  acc32 = _mm256_setzero_si256();
}

GQ_TARGET_AVX2 inline int64_t hsum_epi64(__m256i v) {
  alignas(32) int64_t l[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(l), v);
  return (l[0] + l[1]) + (l[2] + l[3]);
}

// The AVX2 and VNNI kernels differ only in their multiply-add (madd + add, or dpwssd: both wrap
// modulo 2^32, and the flush bound keeps every lane's true sum inside int32).
template <int Bits, Int8Lookup L = Int8Lookup::Gather>
GQ_TARGET_AVX2 int64_t grid_dot_avx2(const uint8_t* w, const GridRow& row, const GridInput& in) {
  constexpr int B = grid_block_values(Bits), A = grid_block_accs(Bits);
  const GridTables t = grid_tables<Bits, L>(row);
  const int64_t blocks = in.n / B, per_flush = blocks_per_flush(row.max_abs, in.max_abs, blocks);
  __m256i acc32[A], acc64 = _mm256_setzero_si256(), g[A];
  for (auto& a : acc32) a = _mm256_setzero_si256();
  for (int64_t b = 0; b < blocks;) {
    for (const int64_t end = std::min(blocks, b + per_flush); b < end; ++b) {
      grid_lookup<Bits, L>(w + b * B * Bits / 8, t, g);
      const int16_t* j = in.lanes.data() + b * B;
      for (int a = 0; a < A; ++a)
        acc32[a] = _mm256_add_epi32(
            acc32[a], _mm256_madd_epi16(g[a], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(j + 16 * a))));
    }
    for (auto& a : acc32) flush_lanes(a, acc64);
  }
  return hsum_epi64(acc64) + grid_tail(w, Bits, row, in.j.data(), blocks * B, in.n);
}

template <int Bits, Int8Lookup L = Int8Lookup::Gather>
GQ_TARGET_VNNI int64_t grid_dot_vnni(const uint8_t* w, const GridRow& row, const GridInput& in) {
  constexpr int B = grid_block_values(Bits), A = grid_block_accs(Bits);
  const GridTables t = grid_tables<Bits, L>(row);
  const int64_t blocks = in.n / B, per_flush = blocks_per_flush(row.max_abs, in.max_abs, blocks);
  __m256i acc32[A], acc64 = _mm256_setzero_si256(), g[A];
  for (auto& a : acc32) a = _mm256_setzero_si256();
  for (int64_t b = 0; b < blocks;) {
    for (const int64_t end = std::min(blocks, b + per_flush); b < end; ++b) {
      grid_lookup<Bits, L>(w + b * B * Bits / 8, t, g);
      const int16_t* j = in.lanes.data() + b * B;
      for (int a = 0; a < A; ++a)
        acc32[a] =
            _mm256_dpwssd_epi32(acc32[a], g[a], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(j + 16 * a)));
    }
    for (auto& a : acc32) flush_lanes(a, acc64);
  }
  return hsum_epi64(acc64) + grid_tail(w, Bits, row, in.j.data(), blocks * B, in.n);
}

using GridDotFn = int64_t (*)(const uint8_t*, const GridRow&, const GridInput&);

GridDotFn grid_dot_kernel(int bits, Isa isa, bool computed_int8) {
  static constexpr GridDotFn kTable[2][4] = {
      {grid_dot_avx2<8>, grid_dot_avx2<4>, grid_dot_avx2<2>, grid_dot_avx2<8, Int8Lookup::Computed>},
      {grid_dot_vnni<8>, grid_dot_vnni<4>, grid_dot_vnni<2>, grid_dot_vnni<8, Int8Lookup::Computed>}};
  const int t = bits == 8 && computed_int8 ? 3 : width_index(bits);
  return isa == Isa::Scalar || t < 0 ? nullptr : kTable[isa == Isa::Avx2 ? 0 : 1][t];
}

}  // namespace

int32_t grid_row_entry(int bits, const GridRow& row, int index) {
  if (row.grid) return row.grid[index];
  if (row.split) return int16_t(uint16_t(row.split[index]) | uint16_t(uint16_t(row.split[16 + index]) << 8));
  const int level = index >= (1 << (bits - 1)) ? index - (1 << bits) : index;
  return int32_t(bf16_to_f32(f32_to_bf16(float(level * row.bf16_product_base))));
}

int32_t bf16_product_base(int bits, const int32_t* grid) {
  const int32_t m = grid[1];
  if (m == 0 || m < -255 || m > 255) return 0;  // level * m must stay exact in int16
  for (int l = -(1 << (bits - 1)); l < (1 << (bits - 1)); ++l)
    if (grid[l & ((1 << bits) - 1)] != int32_t(bf16_to_f32(f32_to_bf16(float(l * m))))) return 0;
  return m;
}

void split_grid_row(int bits, const int32_t* grid, uint8_t* out32) {
  std::memset(out32, 0, 32);
  for (int l = 0; l < (1 << bits) && l < 16; ++l) {
    const uint16_t v = uint16_t(int16_t(grid[l]));
    out32[l] = uint8_t(v & 0xff);
    out32[16 + l] = uint8_t(v >> 8);
  }
}

void prepare_grid_input(int bits, Isa isa, const int32_t* j, int64_t n, GridInput& out) {
  if (width_index(bits) < 0) throw FormatError("channel grid dot: no kernel for " + std::to_string(bits) + "-bit levels");
  out.bits = bits;
  out.isa = isa;
  out.n = n;
  out.j.assign(j, j + n);
  out.max_abs = 0;
  for (int64_t k = 0; k < n; ++k)
    out.max_abs = int32_t(std::max<int64_t>(out.max_abs, std::min<int64_t>(INT32_MAX, std::llabs(j[k]))));
  out.lanes.clear();
  if (isa == Isa::Scalar || out.max_abs > kGridSimdMaxAbs) return;
  const int B = grid_block_values(bits);
  int map[64];
  for (int q = 0; q < B; ++q) map[q] = grid_lane_element(bits, q);
  out.lanes.resize(size_t(n / B * B));
  for (int64_t b = 0; b < n / B; ++b)
    for (int q = 0; q < B; ++q) out.lanes[size_t(b * B + q)] = int16_t(j[b * B + map[q]]);
}

bool grid_dot_uses_simd(const GridRow& row, const GridInput& in) {
  return in.isa != Isa::Scalar && in.max_abs <= kGridSimdMaxAbs && row.max_abs <= kGridSimdMaxAbs &&
         (in.bits == 8 || row.split != nullptr);
}

int64_t channel_grid_dot(const uint8_t* w, const GridRow& row, const GridInput& in) {
  if (grid_dot_uses_simd(row, in)) return grid_dot_kernel(in.bits, in.isa, row.bf16_product_base != 0)(w, row, in);
  return grid_tail(w, in.bits, row, in.j.data(), 0, in.n);
}

}  // namespace gq::engine
