// QAT's one-pass Q4_0 (fake_quant_q4_0_in_range_bits, q4_0.h) against its two definitions: the
// values of fake_quant_q4_0 and ggml's clamp rule for the mask (x * id + 8.5 >= 16 clamps), on
// every kind of block; the exceptions of fake_quant_q4_0; and the backward's product with the bits.
// Registered twice: as it runs here (AVX2 where the CPU has it) and with GQ_QUANT_ISA=scalar
// (tests/CMakeLists.txt), so both the kernel and the portable loop are checked.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "io/error.h"
#include "quant/q4_0.h"

namespace gq::quant {
namespace {

// Blocks of every kind: random magnitudes 1e-30..1e4, signed ties of the largest magnitude (the
// second one, of the other sign, is clamped), zero blocks of either sign, blocks whose 1 / d
// overflows (level 0, every bit kept), a value exactly at a code boundary, the largest fp16 scale.
std::vector<float> blocks_of_every_kind(int64_t blocks, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> exponent(-30.0f, 4.0f);
  std::uniform_int_distribution<int> pos(0, 31), kind(0, 9);
  std::vector<float> x(size_t(blocks * 32));
  for (int64_t b = 0; b < blocks; ++b) {
    float* xb = &x[size_t(b * 32)];
    const float scale = std::pow(10.0f, exponent(rng));
    for (int j = 0; j < 32; ++j) xb[j] = normal(rng) * scale;
    switch (kind(rng)) {
      case 0: {
        const int i = pos(rng), k = pos(rng);
        xb[i] = 10.0f * scale;
        xb[k] = i == k ? xb[i] : -xb[i];
        break;
      }
      case 1:
        for (int j = 0; j < 32; ++j) xb[j] = (j % 3) ? 0.0f : -0.0f;
        break;
      case 2:
        for (int j = 0; j < 32; ++j) xb[j] = 1e-39f * float(1 + j % 2) * (j % 5 ? 1.0f : -1.0f);
        break;
      case 3:  // d = 1: x = -7.5 gives x * id + 8.5 = 16 exactly, the first clamped value
        for (int j = 0; j < 32; ++j) xb[j] = float(j % 16) - 7.5f;
        xb[pos(rng)] = -8.0f;
        break;
      case 4:
        xb[pos(rng)] = 524000.0f;
        break;
      default: break;
    }
  }
  return x;
}

// ggml's rule, value by value, from the codec's own scales.
std::vector<uint32_t> reference_bits(const std::vector<float>& x, int64_t rows, int64_t cols) {
  std::vector<float> d(x.size() / 32);
  q4_0_rtn_scales(x.data(), d.data(), rows, cols);
  std::vector<uint32_t> bits(d.size(), 0);
  for (size_t i = 0; i < d.size(); ++i) {
    const float inv = d[i] != 0.0f ? 1.0f / d[i] : 0.0f;
    const float id = std::isinf(inv) ? 0.0f : inv;
    for (int j = 0; j < 32; ++j) bits[i] |= uint32_t((x[i * 32 + size_t(j)] * id + 8.5f) < 16.0f) << j;
  }
  return bits;
}

std::string error_of(void (*fn)(const std::vector<float>&), const std::vector<float>& x) {
  try {
    fn(x);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(Q4_0InRangeBits, ValuesOfTheCodecAndGgmlsClampMask) {
  const int64_t rows = 2500, cols = 256;
  const std::vector<float> x = blocks_of_every_kind(rows * cols / 32, 5);
  std::vector<float> want(x.size()), got(x.size());
  fake_quant_q4_0(x.data(), want.data(), rows, cols);
  std::vector<uint32_t> bits(x.size() / 32);
  fake_quant_q4_0_in_range_bits(x.data(), got.data(), bits.data(), rows, cols);
  EXPECT_EQ(std::memcmp(got.data(), want.data(), x.size() * sizeof(float)), 0);
  const std::vector<uint32_t> want_bits = reference_bits(x, rows, cols);
  int64_t clamped = 0, tiny_blocks = 0;
  for (size_t i = 0; i < bits.size(); ++i) {
    ASSERT_EQ(bits[i], want_bits[i]) << "block " << i;
    clamped += 32 - __builtin_popcount(bits[i]);
    tiny_blocks += std::fabs(x[i * 32]) < 1e-38f && x[i * 32] != 0.0f;
  }
  EXPECT_GT(clamped, 100);  // the data do reach the clamp
  EXPECT_GT(tiny_blocks, 100);
}

TEST(Q4_0InRangeBits, RejectsWhatTheCodecRejectsWithItsMessage) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  auto ours = [](const std::vector<float>& v) {
    std::vector<float> y(v.size());
    std::vector<uint32_t> b(v.size() / 32);
    fake_quant_q4_0_in_range_bits(v.data(), y.data(), b.data(), 2, 96);
  };
  auto codec = [](const std::vector<float>& v) {
    std::vector<float> y(v.size());
    fake_quant_q4_0(v.data(), y.data(), 2, 96);
  };
  struct Case {
    const char* what;
    std::vector<std::pair<size_t, float>> values;
    const char* error;
  };
  // The codec checks every value before any scale: a NaN after an overflowing block is the error.
  const Case cases[] = {{"NaN", {{100, nan}}, "row 1, element 4 is NaN"},
                        {"-Inf", {{7, -inf}}, "-Inf"},
                        {"scale overflows fp16", {{40, 524160.0f}}, "overflows fp16"},
                        {"overflow, then NaN", {{40, 524160.0f}, {150, nan}}, "is NaN"}};
  for (const Case& c : cases) {
    std::vector<float> x = blocks_of_every_kind(6, 3);
    for (const auto& [i, v] : c.values) x[i] = v;
    const std::string got = error_of(ours, x), want = error_of(codec, x);
    EXPECT_NE(want.find(c.error), std::string::npos) << c.what << ": " << want;
    EXPECT_EQ(got, want) << c.what;
  }
  const std::string ragged = error_of([](const std::vector<float>& v) {
    std::vector<float> y(v.size());
    std::vector<uint32_t> b(v.size() / 32);
    fake_quant_q4_0_in_range_bits(v.data(), y.data(), b.data(), 1, 40);
  }, std::vector<float>(64));
  EXPECT_NE(ragged.find("q4_0"), std::string::npos) << ragged;  // 40 is not a multiple of the block
}

TEST(Q4_0InRangeBits, BackwardIsTheProductWithTheFloatMask) {
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t n = 32 * 777;
  std::vector<float> g(static_cast<size_t>(n)), out(static_cast<size_t>(n)), want(static_cast<size_t>(n));
  std::vector<uint32_t> bits(size_t(n / 32));
  for (auto& v : g) v = normal(rng);
  for (auto& b : bits) b = uint32_t(rng()) | uint32_t(rng() & 1u);
  g[3] = -0.0f, g[4] = std::numeric_limits<float>::quiet_NaN(), g[5] = -std::numeric_limits<float>::infinity();
  bits[0] = 0x0000000fu;  // 3 and 4 kept, 5 masked: -0, NaN, and Inf * 0 = NaN
  for (int64_t i = 0; i < n; ++i) want[size_t(i)] = g[size_t(i)] * float((bits[size_t(i / 32)] >> (i % 32)) & 1u);
  q4_0_apply_in_range_bits(g.data(), bits.data(), out.data(), n);
  EXPECT_EQ(std::memcmp(out.data(), want.data(), size_t(n) * sizeof(float)), 0);
  EXPECT_TRUE(std::signbit(out[3]));
  EXPECT_TRUE(std::isnan(out[4]) && std::isnan(out[5]));
}

}  // namespace
}  // namespace gq::quant
