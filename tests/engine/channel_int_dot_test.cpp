// Fast mode for native mobile files: the channel-wise integer dot (int8 activation codes times
// int8 / int4 / int2 packed levels) against brute force on unpacked levels, every supported
// instruction set against the scalar definition, and the threaded matvec against one thread.
#include <gtest/gtest.h>

#include <cmath>
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


// ---- channel_linear: the integer Linear against the float Linear on the same dequantized values ----

// The fake-quant model's products d(level * s_row) * d(code * s_in) (bf16 values, so each product is
// exact in double and, for these sizes, so is their sum): channel_linear gives that exact sum rounded
// once to float32, on every ISA and thread count.
TEST(ChannelLinear, IsTheFakeQuantModelsExactSumRoundedOnce) {
  std::mt19937 rng(5);
  const auto scheme = quant::parse_activation_scheme("int8_sym@bf16");
  const quant::ActivationParams in{0.037f, 0};
  for (int bits : kWidths) {
    PackedChannelWeight w;
    w.bits = bits;
    w.rows = 37;
    w.cols = 211;
    w.scale_dtype = DType::BF16;
    std::vector<float> wf;
    std::uniform_real_distribution<float> sd(0.001f, 0.2f);
    for (int64_t r = 0; r < w.rows; ++r) {
      const Row row = random_row(bits, w.cols, rng, false);
      w.levels.insert(w.levels.end(), row.packed.begin(), row.packed.end());
      w.scales.push_back(quant::round_scale_to(sd(rng), DType::BF16));
      for (int32_t l : row.levels) wf.push_back(quant::round_scale_to(float(l) * w.scales.back(), DType::BF16));
    }
    build_level_grid(w, "test");
    Matrix x(5, w.cols);
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
            ASSERT_EQ(y(t, r), float(exact)) << isa_name(isa) << " int" << bits << " (" << t << ", " << r << ")";
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
