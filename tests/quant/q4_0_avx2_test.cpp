// The AVX2 Q4_0 RTN kernel (quant/q4_0_avx2.h) against the portable three steps (rtn_scales,
// encode_rtn, pack: ggml's reference rule, checked against a transcription of ggml in
// gguf_block_test.cpp): the same bytes on every kind of block, and every block it must not take
// (non-finite values, a scale fp16 cannot hold, a 1 / d that overflows) handed back, so that
// quantize_rtn writes the portable bytes and fails with the portable message.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "io/error.h"
#include "quant/q4_0.h"
#include "quant/q4_0_avx2.h"

namespace gq::quant {
namespace {

std::vector<uint8_t> three_steps(const std::vector<float>& x, int64_t rows, int64_t cols) {
  std::vector<float> d(size_t(rows * cols / 32));
  std::vector<int8_t> levels(x.size());
  std::vector<uint8_t> bytes(size_t(rows) * q4_0_row_bytes(cols));
  q4_0_rtn_scales(x.data(), d.data(), rows, cols);
  q4_0_encode_rtn(x.data(), d.data(), levels.data(), rows, cols);
  q4_0_pack(levels.data(), d.data(), bytes.data(), rows, cols);
  return bytes;
}

std::string error_of(void (*fn)(const std::vector<float>&), const std::vector<float>& x) {
  try {
    fn(x);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

// Blocks of every kind the kernel takes: random magnitudes from 1e-30 to 1e4, both signs, signed
// ties of the largest magnitude (the first wins), all +0 / all -0 / mixed zeros (d = -0.0f as ggml
// gives it: m stays +0), a negative extreme, one nonzero value, values whose x * id + 8.5 is an
// integer (truncation exactly at a code boundary), and the largest scale fp16 holds.
std::vector<float> ordinary_blocks(int64_t blocks, uint32_t seed) {
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
      case 0: {  // +a and -a at the largest magnitude, in either order
        const int i = pos(rng), k = pos(rng);
        const float a = 10.0f * scale;
        xb[i] = a;
        xb[k] = i == k ? a : -a;
        break;
      }
      case 1:
        for (int j = 0; j < 32; ++j) xb[j] = 0.0f;
        break;
      case 2:
        for (int j = 0; j < 32; ++j) xb[j] = -0.0f;
        break;
      case 3:
        for (int j = 0; j < 32; ++j) xb[j] = (j % 3) ? 0.0f : -0.0f;
        break;
      case 4:
        xb[pos(rng)] = -20.0f * scale;
        break;
      case 5:
        for (int j = 0; j < 32; ++j) xb[j] = 0.0f;
        xb[pos(rng)] = scale;
        break;
      case 6:  // m = -8 gives d = 1, id = 1: x = k + 0.5 lands x * id + 8.5 on the integer k + 9
        for (int j = 0; j < 32; ++j) xb[j] = float(j % 16 - 8) + 0.5f;
        xb[pos(rng)] = -8.0f;
        break;
      case 7:
        xb[pos(rng)] = 524000.0f;  // d = -65500: fp16 holds it
        break;
      default: break;
    }
  }
  return x;
}

TEST(Q4_0Avx2, WritesThePortableBytesOnEveryKindOfBlock) {
  if (!q4_0_avx2_enabled()) GTEST_SKIP() << "no AVX2 here (or GQ_QUANT_ISA=scalar): the portable loop is all there is";
  const int64_t blocks = 20000;
  const std::vector<float> x = ordinary_blocks(blocks, 7);
  const std::vector<uint8_t> want = three_steps(x, blocks, 32);
  std::vector<uint8_t> got(want.size());
  ASSERT_EQ(q4_0_rtn_blocks_avx2(x.data(), got.data(), blocks), blocks);
  for (int64_t b = 0; b < blocks; ++b)
    ASSERT_EQ(std::vector<uint8_t>(got.begin() + b * 18, got.begin() + b * 18 + 18),
              std::vector<uint8_t>(want.begin() + b * 18, want.begin() + b * 18 + 18))
        << "block " << b << ", first value " << x[size_t(b * 32)];
  // The same through the codec's entry point, rows of several blocks.
  std::vector<uint8_t> rows(want.size());
  Q4_0Codec::quantize_rtn(x.data(), rows.data(), blocks / 8, 256);
  EXPECT_EQ(rows, want);
}

TEST(Q4_0Avx2, HandsBackTheBlocksThePortableLoopTakes) {
  if (!q4_0_avx2_enabled()) GTEST_SKIP() << "no AVX2 here (or GQ_QUANT_ISA=scalar)";
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  struct Case {
    const char* what;
    float value;       // put at element 9 of block 3
    bool fills_block;  // the whole block holds it (a tiny one)
    const char* error;  // "" when quantize_rtn writes the block
  };
  const Case cases[] = {{"NaN", nan, false, "input row 0, element 105 is NaN"},
                        {"+Inf", inf, false, "element 105 is +Inf"},
                        {"-Inf", -inf, false, "element 105 is -Inf"},
                        {"scale overflows fp16", 524160.0f, false, "overflows fp16"},
                        {"1 / d overflows", 1e-39f, true, ""}};
  for (const Case& c : cases) {
    std::vector<float> x = ordinary_blocks(6, 11);
    if (c.fills_block)
      for (int j = 0; j < 32; ++j) x[size_t(3 * 32 + j)] = c.value * float(1 + j % 2);
    else
      x[size_t(3 * 32 + 9)] = c.value;
    std::vector<uint8_t> out(6 * 18);
    EXPECT_EQ(q4_0_rtn_blocks_avx2(x.data(), out.data(), 6), 3) << c.what;
    if (*c.error) {
      const std::string fused = error_of([](const std::vector<float>& v) {
        std::vector<uint8_t> o(6 * 18);
        Q4_0Codec::quantize_rtn(v.data(), o.data(), 1, 192);
      }, x);
      const std::string steps = error_of([](const std::vector<float>& v) { three_steps(v, 1, 192); }, x);
      EXPECT_NE(fused.find(c.error), std::string::npos) << c.what << ": " << fused;
      EXPECT_EQ(fused, steps) << c.what;
    } else {
      Q4_0Codec::quantize_rtn(x.data(), out.data(), 1, 192);
      EXPECT_EQ(out, three_steps(x, 1, 192)) << c.what;
    }
  }
}

}  // namespace
}  // namespace gq::quant
