// Grid recovery against blocks generated on a known grid: the generating scale and levels must come
// back (exactly from f32 weights, the levels from bf16-rounded ones), blocks off every grid must not
// be "recovered", and a block RTN already reproduces keeps RTN's result.
#include "quant/grid_recovery.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <random>
#include <vector>

#include "io/half.h"
#include "quant/q2_0.h"
#include "quant/q4_0.h"
#include "quant/q8_0.h"

namespace gq::quant {
namespace {

float bf16_round(float v) { return bf16_to_f32(f32_to_bf16(v)); }

struct Generated {
  std::vector<float> x;       // [blocks, block]
  std::vector<int8_t> codes;  // generating levels
  std::vector<float> scales;  // generating scales
};

// Blocks as a learned scale leaves them: levels round(N(0, spread)) clamped to [qmin, qmax] (the
// extreme level is rarely used, so RTN, which assumes it, mostly picks another scale), times a bf16
// scale of magnitude 2^-12 .. 2^-2 (inside fp16's normal range) and random sign where the format's
// scale is signed. As RTN does, the value of largest |x| gets a level of the sign RTN gives it
// (negative for Q4_0), which makes the generating grid the one recovery reports.
Generated generate(const GridSpec& spec, int64_t blocks, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> z(0.0f, 1.0f);
  const float spread = float(std::max(-spec.qmin, spec.qmax)) / 3.0f;
  auto level = [&](std::mt19937& r) {
    const float q = std::nearbyint(z(r) * spread);
    return int(std::min(float(spec.qmax), std::max(float(spec.qmin), q)));
  };
  const bool flips = spec.signed_scale && -spec.qmin > spec.qmax;
  std::uniform_real_distribution<float> log2s(-12.0f, -2.0f);
  Generated g;
  g.x.resize(size_t(blocks * spec.block));
  g.codes.resize(g.x.size());
  g.scales.resize(size_t(blocks));
  for (int64_t b = 0; b < blocks; ++b) {
    float s = bf16_round(std::exp2(log2s(rng)));
    if (spec.signed_scale && (rng() & 1)) s = -s;
    g.scales[size_t(b)] = s;
    int8_t* q = &g.codes[size_t(b * spec.block)];
    int64_t jmax = 0;
    for (int64_t i = 0; i < spec.block; ++i) {
      q[i] = int8_t(level(rng));
      if (std::abs(q[i]) > std::abs(q[jmax])) jmax = i;
    }
    // Where the mirrored grid (-q, -s) holds the same values, follow RTN's convention: for Q4_0
    // the extreme level negative, for the other formats a positive scale.
    bool mirrorable = spec.signed_scale;
    for (int64_t i = 0; i < spec.block; ++i) mirrorable = mirrorable && -q[i] >= spec.qmin && -q[i] <= spec.qmax;
    if (mirrorable && flips && q[jmax] > 0)
      for (int64_t i = 0; i < spec.block; ++i) q[i] = int8_t(-q[i]);
    if (mirrorable && !flips) s = std::fabs(s);
    for (int64_t i = 0; i < spec.block; ++i) g.x[size_t(b * spec.block + i)] = float(q[i]) * s;  // exact in f32
  }
  return g;
}

struct Tally {
  int64_t exact_codes = 0, exact_scale = 0, on_grid = 0, rtn_on_grid = 0;
};

// Recovery over every block; RTN's figure beside it for the Q4_0 spec.
Tally recover_all(const GridSpec& spec, const Generated& g, const std::vector<float>& x, DType source) {
  Tally t;
  const int64_t blocks = int64_t(g.scales.size());
  std::vector<int8_t> lv(size_t(spec.block)), rtn(size_t(spec.block));
  for (int64_t b = 0; b < blocks; ++b) {
    const float* xb = &x[size_t(b * spec.block)];
    float s = 0;
    const BlockGrid r = recover_block_grid(spec, xb, source, lv.data(), &s);
    if (r != BlockGrid::kOnGrid) continue;
    ++t.on_grid;
    EXPECT_TRUE(block_reproduces(spec, xb, source, lv.data(), s)) << "block " << b;
    bool same = true;
    for (int64_t i = 0; i < spec.block; ++i) same = same && lv[size_t(i)] == g.codes[size_t(b * spec.block + i)];
    t.exact_codes += same;
    t.exact_scale += same && s == g.scales[size_t(b)];
    if (spec.block == kQ4_0Block && spec.qmin == -8) {
      float d;
      q4_0_rtn_scales(xb, &d, 1, kQ4_0Block);
      q4_0_encode_rtn(xb, &d, rtn.data(), 1, kQ4_0Block);
      t.rtn_on_grid += block_reproduces(spec, xb, source, rtn.data(), f16_to_f32(f32_to_f16(d)));
    }
  }
  return t;
}

GridSpec q4_0_spec() { return GridSpec{kQ4_0Block, kQ4_0LevelMin, kQ4_0LevelMax, DType::F16, true}; }

TEST(GridRecovery, Q4_0GridWithBf16ScalesStoredInF32IsRecoveredExactly) {
  const GridSpec spec = q4_0_spec();
  const int64_t blocks = 20000;
  const Generated g = generate(spec, blocks, 1);
  const Tally t = recover_all(spec, g, g.x, DType::F32);
  std::printf("q4_0 grid, f32 weights: recovered %lld / %lld blocks with the generating scale and codes "
              "(%.3f%%); RTN keeps the grid of %lld (%.1f%%)\n",
              (long long)t.exact_scale, (long long)blocks, 100.0 * double(t.exact_scale) / double(blocks),
              (long long)t.rtn_on_grid, 100.0 * double(t.rtn_on_grid) / double(blocks));
  EXPECT_EQ(t.on_grid, blocks);  // every block lies on some grid and must be found
  EXPECT_GE(double(t.exact_scale), 0.999 * double(blocks));
  EXPECT_LT(double(t.rtn_on_grid), 0.5 * double(blocks));  // what recovery is for
}

TEST(GridRecovery, Q4_0GridRoundedToBf16KeepsTheGeneratingCodes) {
  const GridSpec spec = q4_0_spec();
  const int64_t blocks = 20000;
  const Generated g = generate(spec, blocks, 2);
  std::vector<float> xb(g.x.size());
  for (size_t i = 0; i < xb.size(); ++i) xb[i] = bf16_round(g.x[i]);
  const Tally t = recover_all(spec, g, xb, DType::BF16);
  std::printf("q4_0 grid, bf16 weights: %lld / %lld blocks with the generating codes (%.3f%%), %lld also "
              "the generating scale; RTN keeps the grid of %lld (%.1f%%)\n",
              (long long)t.exact_codes, (long long)blocks, 100.0 * double(t.exact_codes) / double(blocks),
              (long long)t.exact_scale, (long long)t.rtn_on_grid, 100.0 * double(t.rtn_on_grid) / double(blocks));
  EXPECT_GE(double(t.exact_codes), 0.99 * double(blocks));
}

TEST(GridRecovery, Q8_0AndQ2_0Grids) {
  const GridSpec q8{kQ8_0Block, kQ8_0LevelMin, kQ8_0LevelMax, DType::F16, false};
  const GridSpec q2{kQ2_0Block, kQ2_0LevelMin, kQ2_0LevelMax, DType::F16, true};
  for (const GridSpec& spec : {q8, q2}) {
    const int64_t blocks = 5000;
    const Generated g = generate(spec, blocks, 3);
    const Tally t = recover_all(spec, g, g.x, DType::F32);
    EXPECT_EQ(t.on_grid, blocks) << spec.qmax;
    // Q2_0 levels {-1,0,1,2}: a block whose levels are all even or all in {0,1} is ambiguous; the
    // decoded values are identical either way (block_reproduces above), only the bytes can differ.
    EXPECT_GE(double(t.exact_codes), (spec.qmax == 2 ? 0.98 : 0.999) * double(blocks)) << spec.qmax;
  }
}

TEST(GridRecovery, GroupwiseInt4WithF32ScalesFromBf16Weights) {
  const GridSpec spec{32, -8, 7, DType::F32, false};
  const int64_t blocks = 5000;
  const Generated g = generate(spec, blocks, 4);
  std::vector<float> xb(g.x.size());
  for (size_t i = 0; i < xb.size(); ++i) xb[i] = bf16_round(g.x[i]);
  const Tally t = recover_all(spec, g, xb, DType::BF16);
  EXPECT_GE(double(t.exact_codes), 0.99 * double(blocks));
}

TEST(GridRecovery, RandomWeightsAreOffGrid) {
  const GridSpec spec = q4_0_spec();
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.0f, 0.02f);
  int64_t on = 0;
  std::vector<float> x(size_t(spec.block));
  std::vector<int8_t> lv(size_t(spec.block));
  for (int b = 0; b < 5000; ++b) {
    for (float& v : x) v = bf16_round(n(rng));
    float s;
    on += recover_block_grid(spec, x.data(), DType::BF16, lv.data(), &s) == BlockGrid::kOnGrid;
  }
  EXPECT_EQ(on, 0);
}

TEST(GridRecovery, KeepsRtnWhenRtnReproducesTheBlock) {
  const GridSpec spec = q4_0_spec();
  std::mt19937 rng(6);
  std::normal_distribution<float> n(0.0f, 0.02f);
  std::vector<float> w(size_t(spec.block)), x(w.size());
  std::vector<int8_t> rtn(w.size()), lv(w.size()), again(w.size());
  for (int b = 0; b < 2000; ++b) {
    for (float& v : w) v = n(rng);
    fake_quant_q4_0(w.data(), x.data(), 1, spec.block);  // what a Q4_0 QAT run simulates
    float d, s;
    q4_0_rtn_scales(x.data(), &d, 1, spec.block);
    q4_0_encode_rtn(x.data(), &d, rtn.data(), 1, spec.block);
    ASSERT_EQ(recover_block_grid(spec, x.data(), DType::F32, lv.data(), &s, rtn.data(), &d), BlockGrid::kOnGrid);
    EXPECT_EQ(s, d) << b;
    EXPECT_EQ(lv, rtn) << b;
  }
}

TEST(GridRecovery, ScaleOutsideF16RangeIsReportedNotStored) {
  const GridSpec spec = q4_0_spec();
  std::vector<float> x(size_t(spec.block));
  std::vector<int8_t> lv(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 16) - 8) * 1.0e6f;  // scale 1e6 > fp16 max
  float s = 0;
  EXPECT_EQ(recover_block_grid(spec, x.data(), DType::F32, lv.data(), &s), BlockGrid::kScaleUnstorable);
  for (float& v : x) v = bf16_round(v);
  EXPECT_EQ(recover_block_grid(spec, x.data(), DType::BF16, lv.data(), &s), BlockGrid::kScaleUnstorable);
}

TEST(GridRecovery, NonFiniteAndZeroBlocks) {
  const GridSpec spec = q4_0_spec();
  std::vector<float> x(size_t(spec.block), 0.0f);
  std::vector<int8_t> lv(x.size());
  float s = 0;
  EXPECT_EQ(recover_block_grid(spec, x.data(), DType::F32, lv.data(), &s), BlockGrid::kOffGrid);
  x[3] = NAN;
  EXPECT_EQ(recover_block_grid(spec, x.data(), DType::F32, lv.data(), &s), BlockGrid::kOffGrid);
}

}  // namespace
}  // namespace gq::quant
