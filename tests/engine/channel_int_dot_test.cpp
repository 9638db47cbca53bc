// Fast mode for native mobile files: the channel-wise integer dot (int8 activation codes times
// int8 / int4 / int2 packed levels) against brute force on unpacked levels, every supported
// instruction set against the scalar definition, and the threaded matvec against one thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>
#include <random>
#include <vector>

#include "engine/channel_int_dot.h"
#include "engine/channel_linear.h"
#include "engine/ops.h"
#include "engine/weights.h"
#include "quant/activation.h"
#include "quant/rounding.h"
#include "engine/thread_pool.h"
#include "io/error.h"
#include "io/half.h"

namespace gq::engine {
namespace {

struct Row {
  std::vector<int32_t> levels;  // unpacked, for brute force
  std::vector<uint8_t> packed;  // docs/native-format.md "Packed levels"
};

// n levels in the width's full two's-complement range; `extreme` uses only its two ends.
Row random_row(int bits, int64_t n, std::mt19937& rng, bool extreme) {
  const int lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
  std::uniform_int_distribution<int> d(lo, hi), coin(0, 1);
  Row r;
  r.packed.assign(channel_row_bytes(bits, n), 0);
  const int per_byte = 8 / bits;
  for (int64_t k = 0; k < n; ++k) {
    const int v = extreme ? (coin(rng) ? lo : hi) : d(rng);
    r.levels.push_back(v);
    r.packed[k / per_byte] |= uint8_t((v & ((1 << bits) - 1)) << (bits * (k % per_byte)));
  }
  return r;
}

std::vector<int8_t> random_acts(int64_t n, std::mt19937& rng, bool extreme) {
  std::uniform_int_distribution<int> d(-128, 127), coin(0, 1);
  std::vector<int8_t> a(n);
  for (auto& v : a) v = int8_t(extreme ? (coin(rng) ? -128 : 127) : d(rng));
  return a;
}

int64_t brute_force(const Row& w, const std::vector<int8_t>& a) {
  int64_t s = 0;
  for (size_t k = 0; k < a.size(); ++k) s += int64_t(w.levels[k]) * a[k];
  return s;
}

const int kWidths[] = {8, 4, 2};
const int64_t kLengths[] = {0, 1, 3, 15, 16, 17, 31, 33, 63, 64, 65, 255, 1536, 2049};

TEST(ChannelIntDot, EveryIsaEqualsBruteForceOnRandomAndExtremeRows) {
  std::mt19937 rng(13);
  int checked_isas = 0;
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni}) {
    if (!isa_supported(isa)) continue;
    ++checked_isas;
    for (int bits : kWidths)
      for (int64_t n : kLengths)
        for (bool extreme : {false, true}) {
          const Row w = random_row(bits, n, rng, extreme);
          const auto a = random_acts(n, rng, extreme);
          EXPECT_EQ(int64_t(channel_int_dot(bits, w.packed.data(), a.data(), n, isa)), brute_force(w, a))
              << isa_name(isa) << " int" << bits << " n=" << n << (extreme ? " extreme" : "");
        }
  }
  EXPECT_GE(checked_isas, 1);
}

TEST(ChannelIntDot, EverySupportedIsaEqualsScalar) {
  std::mt19937 rng(7);
  for (Isa isa : {Isa::Avx2, Isa::Avx512Vnni}) {
    if (!isa_supported(isa)) {
      std::printf("note: %s not supported on this CPU, not compared\n", isa_name(isa));
      continue;
    }
    for (int bits : kWidths)
      for (int trial = 0; trial < 50; ++trial) {
        const int64_t n = 1 + int64_t(rng() % 3000);
        const Row w = random_row(bits, n, rng, trial % 5 == 0);
        const auto a = random_acts(n, rng, trial % 5 == 0);
        EXPECT_EQ(channel_int_dot(bits, w.packed.data(), a.data(), n, isa),
                  channel_int_dot(bits, w.packed.data(), a.data(), n, Isa::Scalar))
            << isa_name(isa) << " int" << bits << " n=" << n;
      }
  }
}

// The largest allowed length with every product at its extreme still sums exactly in int32.
TEST(ChannelIntDot, LongestRowOfExtremeCodesIsExact) {
  const int64_t n = kMaxChannelDotLength;
  std::vector<uint8_t> w(channel_row_bytes(8, n), 0x80);  // every level -128
  std::vector<int8_t> a(n, -128);
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni})
    if (isa_supported(isa)) {
      EXPECT_EQ(int64_t(channel_int_dot(8, w.data(), a.data(), n, isa)), n * 128 * 128);
    }
}

TEST(ChannelIntDot, RefusesUnknownWidthsAndOverlongRows) {
  std::vector<uint8_t> w(1);
  std::vector<int8_t> a(1);
  EXPECT_THROW(channel_int_dot(3, w.data(), a.data(), 1, Isa::Scalar), FormatError);
  EXPECT_THROW(channel_int_dot(4, w.data(), a.data(), kMaxChannelDotLength + 1, Isa::Scalar), FormatError);
  EXPECT_EQ(channel_int_dot_kernel(16, Isa::Scalar), nullptr);
}

TEST(ChannelIntDot, MatvecIsIndependentOfThreadCount) {
  std::mt19937 rng(3);
  const int64_t rows = 97, n = 533;
  for (int bits : kWidths) {
    std::vector<uint8_t> w;
    std::vector<int64_t> expected;
    const auto a = random_acts(n, rng, false);
    for (int64_t r = 0; r < rows; ++r) {
      const Row row = random_row(bits, n, rng, false);
      w.insert(w.end(), row.packed.begin(), row.packed.end());
      expected.push_back(brute_force(row, a));
    }
    for (int threads : {1, 2, 3}) {
      set_engine_threads(threads);
      std::vector<int32_t> out(rows);
      channel_int_matvec(bits, w.data(), rows, a.data(), n, out.data(), selected_isa());
      for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(int64_t(out[r]), expected[r]) << "int" << bits << " row " << r;
    }
  }
  set_engine_threads(1);
}


// ---- channel_grid_dot: table lookups times input integers, exact in int64 ----

struct GridCase {
  int bits;
  Row w;
  std::vector<int32_t> grid;   // 2^bits entries
  std::vector<uint8_t> split;  // 32 bytes for int4 / int2
  std::vector<int32_t> j;
  GridRow row() const {
    int32_t m = 0;
    for (int32_t g : grid) m = std::max(m, std::abs(g));
    return GridRow{grid.data(), bits == 8 ? nullptr : split.data(), m};
  }
};

// Table entries uniform in [-grid_max, grid_max] and inputs in [-j_max, j_max]; `extreme` puts every
// table entry and input at one of its two ends.
GridCase random_grid_case(int bits, int64_t n, int32_t grid_max, int32_t j_max, bool extreme, std::mt19937& rng) {
  GridCase c;
  c.bits = bits;
  c.w = random_row(bits, n, rng, false);
  std::uniform_int_distribution<int32_t> gd(-grid_max, grid_max), jd(-j_max, j_max), coin(0, 1);
  for (int l = 0; l < (1 << bits); ++l) c.grid.push_back(extreme ? (coin(rng) ? -grid_max : grid_max) : gd(rng));
  for (int64_t k = 0; k < n; ++k) c.j.push_back(extreme ? (coin(rng) ? -j_max : j_max) : jd(rng));
  c.split.assign(32, 0);
  if (bits != 8 && grid_max <= kGridSimdMaxAbs) split_grid_row(bits, c.grid.data(), c.split.data());
  return c;
}

int64_t grid_brute_force(const GridCase& c) {
  int64_t s = 0;
  for (size_t k = 0; k < c.j.size(); ++k) s += int64_t(c.grid[size_t(c.w.levels[k] & ((1 << c.bits) - 1))]) * c.j[k];
  return s;
}

int64_t grid_dot_on(const GridCase& c, Isa isa, bool* simd = nullptr) {
  GridInput in;
  prepare_grid_input(c.bits, isa, c.j.data(), int64_t(c.j.size()), in);
  const GridRow row = c.row();
  if (simd) *simd = grid_dot_uses_simd(row, in);
  return channel_grid_dot(c.w.packed.data(), row, in);
}

// Lengths around the blocks (32, 64) and tails, and a few flushes' worth.
const int64_t kGridLengths[] = {0, 1, 5, 16, 31, 32, 33, 63, 64, 65, 127, 129, 1536, 2049, 6144, 10000};

TEST(ChannelGridDot, EveryIsaEqualsBruteForceWithinTheBound) {
  std::mt19937 rng(17);
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni}) {
    if (!isa_supported(isa)) {
      std::printf("note: %s not supported on this CPU, not compared\n", isa_name(isa));
      continue;
    }
    for (int bits : kWidths)
      for (int64_t n : kGridLengths)
        for (int32_t grid_max : {1, 2047, kGridSimdMaxAbs})
          for (int32_t j_max : {1, 128, 32640, kGridSimdMaxAbs})
            for (bool extreme : {false, true}) {
              const GridCase c = random_grid_case(bits, n, grid_max, j_max, extreme, rng);
              bool simd = false;
              const int64_t got = grid_dot_on(c, isa, &simd);
              EXPECT_EQ(simd, isa != Isa::Scalar) << isa_name(isa);
              ASSERT_EQ(got, grid_brute_force(c)) << isa_name(isa) << " int" << bits << " n=" << n << " grid_max="
                                                  << grid_max << " j_max=" << j_max << (extreme ? " extreme" : "");
              ASSERT_EQ(got, grid_dot_on(c, Isa::Scalar)) << isa_name(isa) << " int" << bits << " n=" << n;
            }
  }
}

// Every product at the bound with one sign: each madd lane holds almost 2^31, so the kernel must
// flush to int64 after every block; and a middling bound (15 blocks per flush) summed far past
// int32.
TEST(ChannelGridDot, SumsFarPastInt32AreExactAtAndBelowTheBound) {
  std::mt19937 rng(19);
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni}) {
    if (!isa_supported(isa)) continue;
    for (int bits : kWidths)
      for (int32_t grid_max : {kGridSimdMaxAbs, 2048})
        for (int32_t sign : {1, -1}) {
          const int64_t n = 100003;
          GridCase c = random_grid_case(bits, n, grid_max, kGridSimdMaxAbs, false, rng);
          std::fill(c.grid.begin(), c.grid.end(), -sign * grid_max);
          if (bits != 8) split_grid_row(bits, c.grid.data(), c.split.data());
          std::fill(c.j.begin(), c.j.end(), -kGridSimdMaxAbs);
          bool simd = false;
          EXPECT_EQ(grid_dot_on(c, isa, &simd), sign * n * int64_t(grid_max) * kGridSimdMaxAbs)
              << isa_name(isa) << " int" << bits << " grid_max=" << grid_max;
          EXPECT_EQ(simd, isa != Isa::Scalar);
        }
  }
}

// A table entry or an input past int16 (an f16 grid of int8 levels, an f16 input) takes the scalar
// kernel on every ISA, with the same exact sum.
TEST(ChannelGridDot, ValuesPastTheBoundTakeTheScalarKernelAndAgree) {
  std::mt19937 rng(23);
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni}) {
    if (!isa_supported(isa)) continue;
    for (int bits : kWidths)
      for (int64_t n : {int64_t(33), int64_t(2049)})
        for (auto [grid_max, j_max] : {std::pair<int32_t, int32_t>{kGridSimdMaxAbs + 1, 100},
                                       {100, kGridSimdMaxAbs + 1}, {1 << 18, 1 << 18}}) {
          const GridCase c = random_grid_case(bits, n, grid_max, j_max, true, rng);
          bool simd = true;
          EXPECT_EQ(grid_dot_on(c, isa, &simd), grid_brute_force(c))
              << isa_name(isa) << " int" << bits << " grid_max=" << grid_max << " j_max=" << j_max;
          EXPECT_FALSE(simd) << isa_name(isa);
        }
  }
}


// int8 tables of a bf16 scale (entry = level * m rounded to 8 significant bits) are computed in the
// kernel, not gathered: the rule is recognized, the sums equal brute force; a table off the rule by
// one entry is not recognized and still sums right (gathers).
TEST(ChannelGridDot, Int8TablesOfBf16ScalesAreComputedExactly) {
  std::mt19937 rng(29);
  std::uniform_int_distribution<int32_t> md(1, 255);
  for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni}) {
    if (!isa_supported(isa)) continue;
    for (int64_t n : kGridLengths)
      for (int trial = 0; trial < 4; ++trial) {
        GridCase c = random_grid_case(8, n, 1, kGridSimdMaxAbs, trial == 3, rng);
        const int32_t m = trial == 0 ? 255 : trial == 1 ? -255 : md(rng) * (trial % 2 ? -1 : 1);
        for (int l = -128; l < 128; ++l) c.grid[size_t(l & 255)] = int32_t(bf16_to_f32(f32_to_bf16(float(l * m))));
        GridRow row = c.row();
        ASSERT_EQ(bf16_product_base(8, c.grid.data()), m);
        row.bf16_product_base = m;
        GridInput in;
        prepare_grid_input(8, isa, c.j.data(), n, in);
        EXPECT_TRUE(grid_dot_uses_simd(row, in) == (isa != Isa::Scalar));
        ASSERT_EQ(channel_grid_dot(c.w.packed.data(), row, in), grid_brute_force(c))
            << isa_name(isa) << " n=" << n << " m=" << m;
        c.grid[size_t(rng() % 256)] += 1;
        EXPECT_EQ(bf16_product_base(8, c.grid.data()), 0);
        ASSERT_EQ(grid_dot_on(c, isa), grid_brute_force(c)) << isa_name(isa) << " n=" << n << " off the rule";
      }
  }
}

// ---- channel_linear: the integer Linear against the float Linear on the same dequantized values ----

// The fake-quant model's products d(level * s_row) * d(code * s_in) (bf16 values, so each product is
// exact in double and, for these sizes, so is their sum): channel_linear gives that exact sum rounded
// once to float32, on every ISA and thread count.
// bf16 grids and inputs take the SIMD kernels; f16 ones (int8 levels' tables, every f16 input) the
// scalar kernel, with the same exact sums.
TEST(ChannelLinear, IsTheFakeQuantModelsExactSumRoundedOnce) {
  std::mt19937 rng(5);
  const quant::ActivationParams in{0.037f, 0};
  for (const DType dt : {DType::BF16, DType::F16})
  for (const char* scheme_name : {"int8_sym@bf16", "int8_sym@f16"})
  for (int bits : kWidths) {
    const auto scheme = quant::parse_activation_scheme(scheme_name);
    PackedChannelWeight w;
    w.bits = bits;
    w.rows = 37;
    w.cols = 211;
    w.scale_dtype = dt;
    std::vector<float> wf;
    std::uniform_real_distribution<float> sd(0.001f, 0.2f);
    for (int64_t r = 0; r < w.rows; ++r) {
      const Row row = random_row(bits, w.cols, rng, false);
      w.levels.insert(w.levels.end(), row.packed.begin(), row.packed.end());
      w.scales.push_back(quant::round_scale_to(sd(rng), dt));
      for (int32_t l : row.levels) wf.push_back(quant::round_scale_to(float(l) * w.scales.back(), dt));
    }
    build_level_grid(w, "test");
    // bf16 scales: every row's table follows from the split bytes or the bf16 product rule, so the
    // int32 tables are dropped and the scalar path and the tails rebuild entries (grid_row_entry).
    if (dt == DType::BF16) EXPECT_TRUE(w.grid.empty()) << "int" << bits;
    Matrix x(67, w.cols);  // two chunks of channel_linear's 64 tokens
    std::normal_distribution<float> nd(0.0f, 2.0f);
    for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = nd(rng);
    Matrix xq(x.rows(), x.cols());
    quant::fake_quant_activation(scheme, in, x.data(), xq.data(), x.size());
    for (int threads : {1, 3}) {
      set_engine_threads(threads);
      for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni}) {
        if (!isa_supported(isa)) continue;
        const Matrix y = channel_linear(x, w, scheme, in, isa);
        for (int64_t t = 0; t < x.rows(); ++t)
          for (int64_t r = 0; r < w.rows; ++r) {
            double exact = 0;
            for (int64_t k = 0; k < w.cols; ++k) exact += double(xq(t, k)) * wf[size_t(r * w.cols + k)];
            ASSERT_EQ(y(t, r), float(exact)) << isa_name(isa) << " int" << bits << " " << scheme_name << " scales "
                                             << (dt == DType::BF16 ? "bf16" : "f16") << " (" << t << ", " << r << ")";
          }
      }
    }
    set_engine_threads(1);
  }
}

TEST(ChannelLinear, RefusesAsymmetricInputsAndWrongWidths) {
  PackedChannelWeight w;
  w.bits = 4;
  w.rows = 2;
  w.cols = 4;
  w.levels.assign(4, 0);
  w.scales.assign(2, 1.0f);
  build_level_grid(w, "test");
  const Matrix x = Matrix::Zero(1, 4);
  EXPECT_THROW(channel_linear(x, w, quant::parse_activation_scheme("int8_asym@bf16"), {0.1f, 3}, Isa::Scalar), FormatError);
  EXPECT_THROW(channel_linear(Matrix::Zero(1, 5), w, quant::parse_activation_scheme("int8_sym@bf16"), {0.1f, 0}, Isa::Scalar),
               FormatError);
}

}  // namespace
}  // namespace gq::engine
