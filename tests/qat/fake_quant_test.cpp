// The LibTorch fake-quant ops against the codecs' float references (quant/), bit for bit, and the
// q4_0 paths against ggml's formula written out here;
// their gradients (STE clipping mask, LSQ against finite differences of the straight-through
// surrogate); and a fake-quant model against a model whose weights were replaced by the codec's
// dequant(quant(w)).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <set>

#include <torch/types.h>

#include "fixture_util.h"
#include "io/half.h"
#include "quant/activation.h"
#include "quant/kv.h"
#include "quant/weight.h"
#include "model/quant_targets.h"
#include "recipes/recipe.h"
#include "qat/activation_quantizer.h"
#include "qat/checkpoint_loader.h"
#include "qat/fake_quant_ops.h"
#include "qat/quantize.h"
#include "qat/weight_quantizer.h"

namespace gq {
namespace {

std::vector<float> to_vec(const at::Tensor& t) {
  const at::Tensor c = t.contiguous().to(at::kFloat);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Number of elements whose float32 bit patterns differ (so -0 vs +0 counts).
int64_t bit_mismatches(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  int64_t n = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) n += std::memcmp(&a[i], &b[i], 4) != 0;
  return n;
}

// Rows of 128 values that stress rounding: gaussians at several magnitudes, exact zeros, ties
// between the largest positive and negative values, values on half-steps, bf16-valued rows, a huge
// outlier, denormals.
at::Tensor adversarial_rows(uint64_t seed) {
  std::mt19937 rng{static_cast<uint32_t>(seed)};
  std::normal_distribution<float> nd(0.f, 1.f);
  const int64_t rows = 24, cols = 128;
  std::vector<float> x(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float mag = std::ldexp(1.0f, int(r % 12) - 6);
    for (int64_t c = 0; c < cols; ++c) {
      float v = nd(rng) * mag;
      switch (r % 8) {
        case 1: v = (c % 5 == 0) ? 0.0f : v; break;
        case 2: v = (c % 32 == 3) ? 2.5f : (c % 32 == 7 ? -2.5f : v); break;  // signed-max ties
        case 3: v = float(int(c % 17) - 8) * 0.25f; break;                      // on half steps of 0.5
        case 4: v = bf16_to_f32(f32_to_bf16(v)); break;
        case 5: v = (c == 9) ? 300.0f : v; break;
        case 6: v = v * 1e-39f; break;                                           // denormals
        case 7: v = (c % 2) ? -0.0f : 0.0f; break;                               // all zero
        default: break;
      }
      x[size_t(r * cols + c)] = v;
    }
  }
  return at::tensor(x).view({rows, cols});
}

class TorchMatchesCodec : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchMatchesCodec, RtnAndLearnedScalesBitExact) {
  const quant::WeightScheme s = quant::parse_weight_scheme(GetParam());
  for (uint64_t seed : {1u, 2u, 3u}) {
    const at::Tensor w = adversarial_rows(seed);
    const int64_t rows = w.size(0), cols = w.size(1);
    const std::vector<float> x = to_vec(w);
    std::vector<float> ref(x.size());
    quant::fake_quant_weight(s, x.data(), ref.data(), rows, cols);
    EXPECT_EQ(bit_mismatches(to_vec(fake_quant_weight_rtn(s, w)), ref), 0) << "RTN, seed " << seed;
    at::Tensor mask_fast, mask_ops;
    EXPECT_EQ(bit_mismatches(to_vec(fake_quant_weight_rtn_tensor_ops(s, w, &mask_ops)), ref), 0) << "RTN ops, seed " << seed;
    fake_quant_weight_rtn(s, w, &mask_fast);
    EXPECT_TRUE(at::equal(mask_fast, mask_ops)) << "gradient masks of the two paths, seed " << seed;

    // Learned scales: the RTN ones perturbed, so levels move and some values clip.
    auto [scales, zps] = weight_rtn_params(s, w);
    const at::Tensor learned = scales * (0.8 + 0.4 * at::rand(scales.sizes(), at::kDouble).to(at::kFloat));
    std::vector<float> sv = to_vec(learned);
    std::vector<int8_t> zv;
    if (zps.defined()) {
      const at::Tensor z8 = zps.to(at::kChar).contiguous();
      zv.assign(z8.data_ptr<int8_t>(), z8.data_ptr<int8_t>() + z8.numel());
    }
    quant::fake_quant_weight_with_scales(s, x.data(), sv.data(), zv.empty() ? nullptr : zv.data(), ref.data(), rows, cols);
    EXPECT_EQ(bit_mismatches(to_vec(fake_quant_weight_scaled(s, w, learned, zps).y), ref), 0) << "learned, seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(Schemes, TorchMatchesCodec,
                         ::testing::Values("q4_0", "q8_0", "q2_0", "int8_channel", "int4_channel", "int2_channel",
                                           "int4_g32", "int4_g64", "int4_g128", "int4_g32_asym", "int4_g128_asym",
                                           "int8_g32", "int4_channel@bf16", "int4_g32@bf16", "int4_g128_asym@f16",
                                           "int8_channel@f16"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

// ggml's quantize_row_q4_0_ref then dequantize_row_q4_0, written out here from the rule in
// quant/README.md rather than taken from the codec (which the CPU fast path calls, so comparing the
// two would compare the codec with itself). Per block of 32: m = the value of largest |x| with its
// sign (first on ties), d = m / -8, id = d ? 1/d : 0, q = min(15, (int8)(x*id + 8.5f)) with the
// product and the sum rounded separately, y = (q - 8) * fp16(d). Where 1/d overflows (ggml is
// undefined there) the project emits level 0. `mask` gets 1 where q was not clamped to 15.
std::vector<float> ggml_q4_0_formula(const std::vector<float>& x, std::vector<float>& mask) {
  constexpr size_t kBlock = 32;
  std::vector<float> y(x.size());
  mask.assign(x.size(), 0.0f);
  for (size_t b = 0; b < x.size(); b += kBlock) {
    float amax = 0.0f, max = 0.0f;
    for (size_t j = b; j < b + kBlock; ++j)
      if (std::fabs(x[j]) > amax) amax = std::fabs(x[j]), max = x[j];
    const float d = max / -8.0f;
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    const bool degenerate = std::isinf(inv);
    const float id = degenerate ? 0.0f : inv;
    const float d16 = static_cast<float>(c10::Half(d));
    for (size_t j = b; j < b + kBlock; ++j) {
      const float p = x[j] * id;
      const float v = p + 8.5f;
      const int t = static_cast<int8_t>(v);
      const int q = degenerate ? 8 : std::min(15, t);
      mask[j] = t <= 15 ? 1.0f : 0.0f;
      y[j] = static_cast<float>(q - 8) * d16;
    }
  }
  return y;
}

// Rows of 128 (four blocks) that pin the rule down: exact rounding ties at every level (half-up,
// not half-even or half-away), values exactly at and just below the clamp, a signed-max tie, scales
// that fp16 does not hold exactly (codes from the fp32 d, values from the fp16 d), positive and
// negative maxima, all-zero blocks, denormal blocks whose 1/d overflows (level 0 times a -0 scale),
// then random gaussian and uniform rows at many magnitudes.
at::Tensor q4_0_rows() {
  const int64_t cols = 128;
  std::vector<float> x;
  auto block = [&](std::vector<float> b) {
    b.resize(32, 0.0f);
    x.insert(x.end(), b.begin(), b.end());
  };
  std::vector<float> ties{-8.0f};  // d = 1: x*id + 8.5 lands exactly on integers
  for (int k = -8; k <= 7; ++k) ties.push_back(float(k) + 0.5f), ties.push_back(-float(k) - 0.5f);
  block(ties);
  block({-1.0f, 1.0f, 0.9375f, std::nextafter(0.9375f, 0.0f), 0.875f, -0.0625f, 0.0625f, -0.9375f});
  block({0.1f, 2.5f, -0.3f, -2.5f, 1.25f, -1.25f, 0.625f});  // +2.5 comes first: d = -0.3125
  std::vector<float> odd{1.2345678f};
  for (int k = 1; k < 32; ++k) odd.push_back(1.2345678f * float(k - 16) / 16.0f + 1e-4f * float(k));
  block(odd);
  block({});                                                // all zero
  block({1e-39f, -3e-40f, 5e-40f});                         // 1/d overflows
  block({-2e-37f, 1e-37f, 7e-38f, -1e-38f});                // finite 1/d, fp16(d) = 0
  block({300.0f, -299.0f, 0.001f, 150.0f, -149.99f});
  std::mt19937 rng{20240607};
  std::normal_distribution<float> nd(0.f, 1.f);
  std::uniform_real_distribution<float> ud(-1.f, 1.f);
  for (int r = 0; r < 64; ++r) {
    const float mag = std::ldexp(1.0f, r % 24 - 12);
    for (int64_t c = 0; c < cols; ++c) x.push_back((r % 2 ? nd(rng) : ud(rng)) * mag);
  }
  while (x.size() % size_t(cols)) x.push_back(0.0f);
  return at::tensor(x).view({int64_t(x.size()) / cols, cols});
}

TEST(Q4_0FakeQuant, BothPathsFollowGgmlFormula) {
  const quant::WeightScheme s = quant::q4_0_scheme();
  const at::Tensor w = q4_0_rows();
  std::vector<float> want_mask;
  const std::vector<float> want = ggml_q4_0_formula(to_vec(w), want_mask);
  at::Tensor mask_cpu, mask_ops;
  EXPECT_EQ(bit_mismatches(to_vec(fake_quant_weight_rtn(s, w, &mask_cpu)), want), 0) << "CPU path";
  EXPECT_EQ(bit_mismatches(to_vec(fake_quant_weight_rtn_tensor_ops(s, w, &mask_ops)), want), 0) << "tensor-op path";
  EXPECT_EQ(to_vec(mask_cpu), want_mask) << "CPU path";
  EXPECT_EQ(to_vec(mask_ops), want_mask) << "tensor-op path";
  // The inputs do reach what they are meant to: clamped values, -0 results and half-up ties.
  int64_t clamped = 0, negative_zero = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    clamped += want_mask[i] == 0.0f;
    negative_zero += want[i] == 0.0f && std::signbit(want[i]);
  }
  EXPECT_GT(clamped, 0);
  EXPECT_GT(negative_zero, 0);
  EXPECT_EQ(want[17], 1.0f);  // 0.5 rounds half up to level 1 (d = 1)
  EXPECT_EQ(want[18], 0.0f);  // -0.5 rounds half up to level 0
  EXPECT_EQ(want[21], 3.0f);  // 2.5 to level 3
}

// The CPU path splits rows across intra-op threads: the same bits and mask as the codec's serial
// pass and the tensor-op path, and a NaN deep in the tensor named by its own row, as serially.
TEST(Q4_0FakeQuant, ThreadedCpuPathEqualsTheSerialCodec) {
  const int previous = at::get_num_threads();
  at::set_num_threads(2);
  const quant::WeightScheme s = quant::q4_0_scheme();
  const int64_t rows = 3000, cols = 64;  // ~12 pieces of 256 rows
  at::Tensor w = at::randn({rows, cols}, at::TensorOptions().dtype(at::kFloat)) * 0.05;
  std::vector<float> want(size_t(rows * cols));
  quant::fake_quant_weight(s, w.data_ptr<float>(), want.data(), rows, cols);
  at::Tensor mask_cpu, mask_ops;
  EXPECT_EQ(bit_mismatches(to_vec(fake_quant_weight_rtn(s, w, &mask_cpu)), want), 0);
  fake_quant_weight_rtn_tensor_ops(s, w, &mask_ops);
  EXPECT_EQ(to_vec(mask_cpu), to_vec(mask_ops));

  w[2500][7] = std::nanf("");
  std::string serial, threaded;
  try {
    quant::fake_quant_weight(s, w.data_ptr<float>(), want.data(), rows, cols);
  } catch (const std::exception& e) {
    serial = e.what();
  }
  try {
    fake_quant_weight_rtn(s, w);
  } catch (const std::exception& e) {
    threaded = e.what();
  }
  at::set_num_threads(previous);
  EXPECT_FALSE(serial.empty());
  EXPECT_EQ(threaded, serial);
}

TEST(TorchMatchesCodecOther, ActivationsAndKvBitExact) {
  const at::Tensor x = adversarial_rows(7) * 3.0;
  const std::vector<float> xv = to_vec(x);
  std::vector<float> ref(xv.size());
  for (const char* name : {"int8_sym", "int8_asym", "int16_sym", "int8_sym_rna", "int8_sym@bf16", "int8_sym_narrow@bf16",
                           "int8_sym@f16"}) {
    const quant::ActivationScheme s = quant::parse_activation_scheme(name);
    const quant::ActivationParams p = quant::activation_params_from_range(s, -5.0f, 3.0f);  // clips some values
    quant::fake_quant_activation(s, p, xv.data(), ref.data(), int64_t(xv.size()));
    EXPECT_EQ(bit_mismatches(to_vec(fake_quant_activation_tensor(s, x, at::full({1}, p.scale), p.zero_point).y), ref), 0)
        << name;
  }
  for (const char* name : {"kv_int8", "kv_int4", "kv_q8_0", "kv_q4_0"}) {
    const quant::KvScheme s = quant::parse_kv_scheme(name);
    const at::Tensor kv = x.view({-1, 64});
    quant::fake_quant_kv(s, xv.data(), ref.data(), kv.size(0), 64);
    EXPECT_EQ(bit_mismatches(to_vec(fake_quant_kv_tensor(s, kv)), ref), 0) << name;
  }
}

// Inference (no grad) takes the codec's one-pass route for activations and for a few weight rows
// (the gathered embedding rows); training the tensor ops with their masks. Both give the same floats,
// on tensors in one piece and in threaded pieces (over 16k values, 2 threads).
TEST(FakeQuantInference, NoGradPathEqualsTheTrainingPath) {
  const int previous = at::get_num_threads();
  at::set_num_threads(2);
  const at::Tensor small = adversarial_rows(7) * 3.0;
  const at::Tensor large = at::cat({small, adversarial_rows(8) * 0.01, adversarial_rows(9) * 300.0}).repeat({8, 1});
  ASSERT_GT(large.numel(), int64_t(1) << 14);
  for (const char* name : {"int8_sym", "int8_asym", "int16_sym", "int8_sym@bf16", "int8_sym_narrow@bf16", "int8_sym@f16"}) {
    const quant::ActivationScheme s = quant::parse_activation_scheme(name);
    ActivationQuantizer q(s, "minmax", /*learnable=*/false);
    q.set_params(quant::activation_params_from_range(s, -5.0f, 3.0f));
    for (const at::Tensor& x : {small, large}) {
      const at::Tensor trained = q.forward(x.clone().requires_grad_(true)).detach();
      at::NoGradGuard ng;
      EXPECT_EQ(bit_mismatches(to_vec(q.forward(x)), to_vec(trained)), 0) << name << ", " << x.numel() << " values";
    }
    // The second read of one tensor reuses the first's result, unless the tensor or the scale changed.
    at::NoGradGuard ng;
    at::Tensor x = small.clone();
    const at::Tensor first = q.forward(x);
    EXPECT_TRUE(q.forward(x).is_same(first)) << name;
    x.mul_(0.5);
    EXPECT_EQ(bit_mismatches(to_vec(q.forward(x)), to_vec(q.forward(x.clone()))), 0) << name << ", written in place";
    EXPECT_GT(bit_mismatches(to_vec(q.forward(x)), to_vec(first)), 0) << name;
    q.set_params(quant::activation_params_from_range(s, -2.0f, 1.0f));
    EXPECT_EQ(bit_mismatches(to_vec(q.forward(x)), to_vec(q.forward(x.clone()))), 0) << name << ", new scale";
  }
  for (const char* name : {"int4_channel", "int4_channel@bf16", "int8_channel@bf16", "int2_channel", "q4_0", "int4_g32_asym"}) {
    const quant::WeightScheme s = quant::parse_weight_scheme(name);
    for (const at::Tensor& w : {small.narrow(0, 0, 3), small, large}) {
      WeightQuantizer q(s, w, /*learnable=*/false);
      const at::Tensor trained = q.forward(w.clone().requires_grad_(true)).detach();
      at::NoGradGuard ng;
      EXPECT_EQ(bit_mismatches(to_vec(q.forward(w)), to_vec(trained)), 0) << name << ", " << w.numel() << " values";
    }
  }
  at::set_num_threads(previous);
}

TEST(FakeQuantGradients, RtnSteMasksClampedValues) {
  // Q4_0 block: the largest magnitude is -1 (scale d = 1/8), so +1 lies beyond +7d and is clamped.
  std::vector<float> x(32, 0.05f);
  x[0] = -1.0f;
  x[1] = 1.0f;
  const at::Tensor w = at::tensor(x).view({1, 32}).requires_grad_(true);
  WeightQuantizer q(quant::parse_weight_scheme("q4_0"), w.detach(), /*learnable=*/false);
  q.forward(w).sum().backward();
  const std::vector<float> g = to_vec(w.grad());
  EXPECT_EQ(g[1], 0.0f);  // clamped to +7d
  EXPECT_EQ(g[0], 1.0f);
  EXPECT_EQ(g[5], 1.0f);
}

// The CPU Q4_0 path keeps its mask as one bit per value (fake_quant_weight_rtn_with_mask): the
// values, and a weight gradient equal bit for bit to the upstream gradient times the tensor-op
// path's float mask (-0 included), on two intra-op threads; a non-contiguous gradient too.
TEST(FakeQuantGradients, Q4_0BitMaskGradientIsTheFloatMasksProduct) {
  const int previous = at::get_num_threads();
  at::set_num_threads(2);
  const quant::WeightScheme s = quant::q4_0_scheme();
  at::manual_seed(3);
  const at::Tensor w0 = at::randn({700, 96}, at::kFloat) * 0.05;
  at::Tensor mask_ops;
  const at::Tensor want_y = fake_quant_weight_rtn_tensor_ops(s, w0, &mask_ops);
  ASSERT_GT((mask_ops == 0).sum().item<int64_t>(), 0);  // some values are clamped
  const RtnWithMask r = fake_quant_weight_rtn_with_mask(s, w0);
  ASSERT_TRUE(r.in_range_bits.defined());
  EXPECT_EQ(r.in_range_bits.numel(), w0.numel() / 32);
  EXPECT_TRUE(at::equal(r.y, want_y));

  const at::Tensor w = w0.clone().requires_grad_(true);
  at::Tensor coef = at::randn({700, 96}, at::kFloat);
  coef.index_put_({at::indexing::Slice(0, 5)}, -0.0);
  WeightQuantizer q(s, w.detach(), /*learnable=*/false);
  (q.forward(w) * coef).sum().backward();
  const at::Tensor want_g = coef * mask_ops;
  EXPECT_EQ(bit_mismatches(to_vec(w.grad()), to_vec(want_g)), 0);
  EXPECT_TRUE(std::signbit(w.grad()[0][0].item<float>()));

  const at::Tensor gt = coef.t().contiguous().t();  // [700, 96] with strides (1, 700)
  ASSERT_FALSE(gt.is_contiguous());
  EXPECT_EQ(bit_mismatches(to_vec(apply_in_range_bits(gt, r.in_range_bits)), to_vec(want_g)), 0);
  at::set_num_threads(previous);
}

// LSQ's gradients are exactly those of the straight-through surrogate
//   f(x, s) = s * (m * (x/s + o) + (1 - m) * c)
// where the rounding offset o = round(v) - v, the in-range mask m and the clamped level c are
// frozen at the evaluation point (v = x/s); the scale gradient is multiplied by
// 1/sqrt(values_per_scale * qmax). Central differences of that surrogate in double precision check
// the plumbing: masks, the per-block reduction, the scale layout and the gradient scale.
TEST(FakeQuantGradients, LsqMatchesFiniteDifferencesOfTheSurrogate) {
  for (const char* name : {"int4_channel", "int4_g32", "q4_0"}) {
    SCOPED_TRACE(name);
    const quant::WeightScheme s = quant::parse_weight_scheme(name);
    at::manual_seed(3);
    const at::Tensor w0 = at::randn({4, 64});
    WeightQuantizer q(s, w0, /*learnable=*/true);
    {  // move the scales off their RTN values so some values clip
      at::NoGradGuard ng;
      q.learned().log_ratio.fill_(std::log(0.7));
    }
    const at::Tensor w = w0.clone().requires_grad_(true);
    const at::Tensor coef = at::randn({4, 64});
    (q.forward(w) * coef).sum().backward();

    const int64_t block = s.block_size(64);
    const double gscale = 1.0 / std::sqrt(double(block) * double(s.qmax()));
    const at::Tensor wd = w0.to(at::kDouble), cd = coef.to(at::kDouble);
    const at::Tensor sd = q.scale().to(at::kDouble);
    const bool gguf = s.is_gguf();
    const at::Tensor se0 = (gguf ? sd.to(at::kHalf).to(at::kDouble) : sd).repeat_interleave(block, 1);
    const at::Tensor v0 = wd / se0;
    const at::Tensor rounded = gguf ? at::floor(v0 + 0.5) : at::round(v0);  // q4_0 rounds half up
    const at::Tensor offset = rounded - v0;
    const at::Tensor clamped = rounded.clamp(double(s.qmin()), double(s.qmax()));
    const at::Tensor m = (rounded == clamped).to(at::kDouble);
    auto surrogate_loss = [&](const at::Tensor& wx, const at::Tensor& sx, const at::Tensor& o) {
      const at::Tensor se = (gguf ? sx.to(at::kHalf).to(at::kDouble) : sx).repeat_interleave(block, 1);
      const at::Tensor f = se * (m * (wx / se + o) + (1 - m) * clamped);
      return (f * cd).sum().item<double>();
    };
    EXPECT_GT((1 - m).sum().item<double>(), 0);  // some values do clip
    EXPECT_GT(m.sum().item<double>(), 0);
    const double h = 1e-6;
    // The parameter is the log ratio to the RTN scale: d/d log_ratio = scale * d/d scale.
    const at::Tensor gs = q.learned().log_ratio.grad().to(at::kDouble), gw = w.grad().to(at::kDouble);
    for (int64_t r = 0; r < 4; ++r) {
      for (int64_t b = 0; b < sd.size(1); ++b) {
        at::Tensor sp = sd.clone(), sm = sd.clone();
        sp[r][b] += h;
        sm[r][b] -= h;
        // The offset is frozen in units of the scale: f = clamp(x/s + o) * s.
        const double fd = (surrogate_loss(wd, sp, offset) - surrogate_loss(wd, sm, offset)) / (2 * h);
        if (gguf) continue;  // fp16 scale storage makes +-h invisible; the x-gradient below still checks
        const double s_rb = sd[r][b].item<double>();
        EXPECT_NEAR(gs[r][b].item<double>(), s_rb * fd * gscale, s_rb * 1e-3 * std::max(1.0, std::abs(fd * gscale)))
            << r << "," << b;
      }
      for (int64_t c = 0; c < 64; c += 7) {
        at::Tensor wp = wd.clone(), wm = wd.clone();
        wp[r][c] += h;
        wm[r][c] -= h;
        const double fd = (surrogate_loss(wp, sd, offset) - surrogate_loss(wm, sd, offset)) / (2 * h);
        EXPECT_NEAR(gw[r][c].item<double>(), fd, 1e-4) << r << "," << c;
      }
    }
  }
}

// The model a deployed file describes, in float32: every weight the recipe quantizes replaced by
// the codec's dequant(quant(w)), every other float tensor rounded to the recipe's float dtype. A
// tied model whose head the recipe unties becomes an untied model whose head is a copy of the
// table (quantized with the head's scheme, or float and rounded).
Gemma4Model deployed_model(const std::string& dir, const ResolvedRecipe& rr) {
  Gemma4Model src = load_model(dir);
  const bool float_head_copy = rr.untie_head && !src->lm_head;
  Gemma4Config cfg = src->config();
  if (float_head_copy) cfg.tie_word_embeddings = false;
  Gemma4Model deq = float_head_copy ? Gemma4Model(cfg) : src;
  at::NoGradGuard ng;
  std::map<std::string, at::Tensor> params;
  for (const auto& p : deq->named_parameters()) params[p.key()] = p.value();
  for (const auto& b : deq->named_buffers()) params[b.key()] = b.value();
  if (float_head_copy) {
    for (const auto& p : src->named_parameters()) params.at(p.key()).copy_(p.value());
    for (const auto& b : src->named_buffers()) params.at(b.key()).copy_(b.value());
    params.at("lm_head.weight").copy_(src->embed_tokens->weight);
  }
  std::set<std::string> quantized;
  for (const auto& [module, scheme] : rr.weights) {
    if (module == "lm_head" && !deq->lm_head) continue;  // tied: it is the (already replaced) embedding table
    const std::string name = module.find("experts.") != std::string::npos ? module : module + ".weight";
    at::Tensor& t = params.at(name);
    const at::Tensor w2 = t.reshape({-1, t.size(-1)}).contiguous();
    const quant::QuantizedWeight qw = quant::quantize_weight(scheme, w2.data_ptr<float>(), w2.size(0), w2.size(1));
    std::vector<float> y(size_t(w2.numel()));
    quant::dequantize_weight(qw, y.data());
    t.copy_(at::tensor(y).view(t.sizes()));
    quantized.insert(name);
  }
  for (auto& [name, t] : params)
    if (!quantized.count(name) && t.is_floating_point()) t.copy_(round_to_dtype(t, rr.float_dtype));
  return deq;
}

at::Tensor reference_ids(const std::string& dir) {
  const auto ref = SafetensorsFile::open(dir + "/reference.safetensors");
  return at::tensor(test::read_i64(*ref, "b.input_ids"), at::kLong).unsqueeze(0);
}

// A fake-quant model computes exactly what a model holding the deployed weights computes.
TEST(FakeQuantModel, EqualsModelWithDequantizedWeights) {
  for (const std::string fixture : {"dense_ple", "moe_keqv"}) {
    SCOPED_TRACE(fixture);
    const std::string dir = test::fixture_dir(fixture);
    Gemma4Model fq = load_model(dir);
    const Recipe recipe = Recipe::load("q4_0");
    const ResolvedRecipe rr = resolve_recipe(recipe, gemma4_quant_targets(fq->config()));
    ASSERT_EQ(rr.float_dtype, DType::F16);  // q4_0 stores its float tensors as F16, as llama-quantize does
    const auto assigned = quantize_model(fq, rr);
    EXPECT_FALSE(assigned.empty());
    int rounded = 0;
    for (const SeamAssignment& a : assigned) rounded += a.what == "f16 (float tensor)";
    EXPECT_GT(rounded, 10);  // norms, the PLE model projection, the router

    Gemma4Model deq = deployed_model(dir, rr);
    const auto ref = SafetensorsFile::open(dir + "/reference.safetensors");
    const at::Tensor ids = reference_ids(dir);
    const at::Tensor a = fq->forward(ids).logits, b = deq->forward(ids).logits;
    EXPECT_TRUE(at::equal(a, b)) << "max diff " << test::max_abs_diff(a, b);
    // And quantization changed the model (the test would pass vacuously otherwise).
    EXPECT_GT(test::max_abs_diff(a, test::read_f32(*ref, "b.logits")), 1e-3);

    remove_quantization(fq);
    EXPECT_TRUE(describe_quantization(fq).empty());
    EXPECT_LE(test::max_abs_diff(fq->forward(ids).logits, test::read_f32(*ref, "b.logits")), 1e-4);
  }
}

// BF16 float tensors and bf16 channel / group scales (the scale rounded, the dequantized value
// computed in bf16), end to end; an F32 recipe puts nothing on the float tensors.
TEST(FakeQuantModel, Bf16FloatTensorsAndScalesEqualTheDeployedModel) {
  const std::string json = R"({"weights": [{"targets": ["Linear", "Experts"], "scheme": "int4_g32"},
                                            {"targets": ["Embedding"], "scheme": "int8_channel"},
                                            {"targets": ["re:layers\\.0\\..*_proj"], "scheme": "int4_channel@f16"}],
                               "ignore": ["Router"], "unquantized_dtype": "%s"})";
  for (const std::string fixture : {"dense_ple", "moe_keqv"}) {
    SCOPED_TRACE(fixture);
    const std::string dir = test::fixture_dir(fixture);
    Gemma4Model fq = load_model(dir);
    std::string bf16 = json;
    bf16.replace(bf16.find("%s"), 2, "bf16");
    const ResolvedRecipe rr = resolve_recipe(Recipe::parse(bf16, "bf16.json"), gemma4_quant_targets(fq->config()));
    EXPECT_EQ(rr.weights.at("layers.1.mlp.up_proj").scale_dtype, DType::BF16);
    EXPECT_EQ(rr.weights.at("layers.0.mlp.up_proj").scale_dtype, DType::F16);
    const auto assigned = quantize_model(fq, rr);
    Gemma4Model deq = deployed_model(dir, rr);
    const at::Tensor ids = reference_ids(dir);
    const at::Tensor a = fq->forward(ids).logits, b = deq->forward(ids).logits;
    EXPECT_TRUE(at::equal(a, b)) << "max diff " << test::max_abs_diff(a, b);

    // Without the rounding of the float tensors the two differ: it is not vacuous.
    Gemma4Model unrounded = load_model(dir);
    std::string f32 = json;
    f32.replace(f32.find("%s"), 2, "f32");
    ResolvedRecipe rr32 = resolve_recipe(Recipe::parse(f32, "f32.json"), gemma4_quant_targets(fq->config()));
    rr32.weights = rr.weights;  // the same bf16 scales
    const auto assigned32 = quantize_model(unrounded, rr32);
    EXPECT_LT(assigned32.size(), assigned.size());  // F32: no seams for the float tensors
    for (const SeamAssignment& s : assigned32) EXPECT_EQ(s.what.find("float tensor"), std::string::npos) << s.module;
    EXPECT_GT(test::max_abs_diff(unrounded->forward(ids).logits, a), 0.0);
  }
}

// Gradients go straight through the rounding to the float32 latent tensors: they equal the
// deployed model's gradients with respect to its (rounded) tensors.
TEST(FakeQuantModel, FloatRoundingPassesGradientsToTheLatentWeights) {
  const std::string dir = test::fixture_dir("moe_keqv");
  const ResolvedRecipe rr = resolve_recipe(
      Recipe::parse(R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "ignore": ["Router"],
                        "unquantized_dtype": "bf16"})", "r.json"),
      gemma4_quant_targets(load_model(dir)->config()));
  Gemma4Model fq = load_model(dir);
  quantize_model(fq, rr);
  Gemma4Model deq = deployed_model(dir, rr);
  const at::Tensor ids = reference_ids(dir);
  fq->forward(ids).logits.pow(2).mean().backward();
  deq->forward(ids).logits.pow(2).mean().backward();
  auto dp = deq->named_parameters();
  int compared = 0;
  for (const auto& p : fq->named_parameters()) {
    if (p.key().find("_fq.") != std::string::npos || rr.weights.count(p.key().substr(0, p.key().rfind('.')))) continue;
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(at::equal(p.value().grad(), dp[p.key()].grad())) << p.key();
    ++compared;
  }
  EXPECT_GT(compared, 20);  // norms, router scales and projection, embedding table, experts
  EXPECT_GT(fq->named_parameters()["layers.0.router.scale"].grad().abs().sum().item<double>(), 0.0);
}

// An ignored head of a tied model is a float copy of the table: the head reads the float table
// (rounded to the float dtype) while the token lookup reads the quantized one.
TEST(FakeQuantModel, IgnoredHeadOfATiedModelReadsTheFloatTable) {
  const std::string dir = test::fixture_dir("dense_ple");
  for (const char* dtype : {"f32", "bf16"}) {
    SCOPED_TRACE(dtype);
    Gemma4Model fq = load_model(dir);
    ASSERT_FALSE(fq->lm_head);
    const ResolvedRecipe rr = resolve_recipe(
        Recipe::parse(std::string(R"({"weights": [{"targets": ["Linear", "Embedding"], "scheme": "int4_channel"}],
                                      "ignore": ["lm_head"], "unquantized_dtype": ")") + dtype + "\"}", "r.json"),
        gemma4_quant_targets(fq->config()));
    ASSERT_TRUE(rr.untie_head);
    ASSERT_EQ(rr.weights.count("lm_head"), 0u);
    quantize_model(fq, rr);
    Gemma4Model deq = deployed_model(dir, rr);
    ASSERT_TRUE(deq->lm_head);
    const at::Tensor ids = reference_ids(dir);
    const at::Tensor a = fq->forward(ids).logits, b = deq->forward(ids).logits;
    EXPECT_TRUE(at::equal(a, b)) << "max diff " << test::max_abs_diff(a, b);
    // The head is not the quantized table.
    EXPECT_FALSE(at::equal(fq->head_weight(), fq->embed_quant(fq->embed_tokens->weight)));
  }
}

TEST(FakeQuantModel, MobileRecipeSharesFusedInputAndOutputScalesAfterCalibration) {
  Gemma4Model m = load_model(test::fixture_dir("dense_ple"));
  const ResolvedRecipe rr = resolve_recipe(Recipe::load("mobile"), gemma4_quant_targets(m->config()));
  EXPECT_TRUE(rr.untie_head);
  EXPECT_FALSE(rr.kv_cache);
  quantize_model(m, rr);
  begin_calibration(m);
  at::NoGradGuard ng;
  const at::Tensor ids = at::randint(512, {2, 40}, at::kLong);
  const at::Tensor before = m->forward(ids).logits;  // observing: activations pass through
  const Calibration cal = finish_calibration(m, rr.name, rr.observer);
  for (const auto* side : {&cal.activations, &cal.output_activations}) {
    const auto& q = side->at("layers.0.self_attn.q_proj");
    const auto& k = side->at("layers.0.self_attn.k_proj");
    const auto& o = side->at("layers.0.self_attn.o_proj");
    EXPECT_EQ(q.scale, k.scale);
    EXPECT_EQ(q.scale, side->at("layers.0.self_attn.v_proj").scale);
    EXPECT_EQ(side->at("layers.1.mlp.gate_proj").scale, side->at("layers.1.mlp.up_proj").scale);
    // Unfused modules keep their own observed range (their bf16 scales may still coincide).
    const auto& up = side->at("layers.1.mlp.up_proj");
    const auto& down = side->at("layers.1.mlp.down_proj");
    EXPECT_TRUE(q.min != o.min || q.max != o.max);
    EXPECT_TRUE(up.min != down.min || up.max != down.max);
    EXPECT_LT(q.min, 0.0f);
    EXPECT_GT(q.max, 0.0f);
    EXPECT_EQ(q.scheme, "int8_sym@bf16");
    EXPECT_EQ(q.scale, bf16_to_f32(f32_to_bf16(q.scale)));  // held in bf16, as vLLM computes with it
    EXPECT_EQ(side->count("lm_head"), 1u);                   // the head's input and output too
    EXPECT_EQ(side->size(), rr.activations.size());
  }
  EXPECT_NE(cal.activations.at("layers.0.self_attn.q_proj").scale, cal.output_activations.at("layers.0.self_attn.q_proj").scale);
  EXPECT_TRUE(cal.kv_cache.empty());
  const at::Tensor after = m->forward(ids).logits;  // now quantizing activations too
  EXPECT_GT(test::max_abs_diff(before, after), 0.0);

  // The calibration file round-trips and reproduces the same model.
  const std::string path = ::testing::TempDir() + "/calib.json";
  cal.save(path);
  Gemma4Model m2 = load_model(test::fixture_dir("dense_ple"));
  const Calibration loaded = Calibration::load(path);
  quantize_model(m2, rr, &loaded);
  EXPECT_TRUE(at::equal(m2->forward(ids).logits, after));
  // A record without the output scales is refused, naming what it lacks.
  Calibration inputs_only = loaded;
  inputs_only.output_activations.clear();
  Gemma4Model m3 = load_model(test::fixture_dir("dense_ple"));
  try {
    quantize_model(m3, rr, &inputs_only);
    FAIL() << "accepted a calibration without output scales";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("calibration has no entry for the output of '"), std::string::npos) << e.what();
  }
}

// Output fake quant sits where vLLM's WNA8O8 applies it: on the matmul's result, in bf16.
TEST(FakeQuantModel, OutputQuantizerRoundsTheLinearsResult) {
  Gemma4Model m = load_model(test::fixture_dir("dense_keqv"));
  const ResolvedRecipe rr = resolve_recipe(
      Recipe::parse(R"({"output_activations": [{"targets": ["layers.0.mlp.down_proj"], "scheme": "int8_sym@bf16"}]})", "r.json"),
      gemma4_quant_targets(m->config()));
  const Calibration cal = [&] {
    Calibration c;
    c.output_activations["layers.0.mlp.down_proj"] = {"int8_sym@bf16", -1.0f, 1.0f, 0.0078125f, 0};
    return c;
  }();
  quantize_model(m, rr, &cal);
  at::NoGradGuard ng;
  auto& down = m->decoder_layers[0]->mlp->down_proj;
  const at::Tensor x = at::randn({3, down->weight.size(1)});
  const at::Tensor raw = at::matmul(x, down->weight.t());
  const std::vector<float> rv = to_vec(raw);
  std::vector<float> want(rv.size());
  quant::fake_quant_activation(quant::parse_activation_scheme("int8_sym@bf16"), {0.0078125f, 0}, rv.data(), want.data(),
                               int64_t(rv.size()));
  EXPECT_EQ(bit_mismatches(to_vec(down->forward(x)), want), 0);
}

// K/V writes observed during calibration give per-layer ranges; KV-shared layers own none.
TEST(FakeQuantModel, KvCacheCalibrationCoversLayersWithTheirOwnCache) {
  Gemma4Model m = load_model(test::fixture_dir("dense_ple"));
  const ResolvedRecipe rr = resolve_recipe(
      Recipe::parse(R"({"weights": [{"targets": ["Linear"], "scheme": "int4_channel"}], "kv_cache": "kv_int8"})", "r.json"),
      gemma4_quant_targets(m->config()));
  quantize_model(m, rr);
  begin_calibration(m);
  at::NoGradGuard ng;
  m->forward(at::randint(512, {2, 40}, at::kLong));
  const Calibration cal = finish_calibration(m, rr.name, rr.observer);
  EXPECT_EQ(cal.kv_cache.count("layers.0.self_attn"), 1u);
  EXPECT_EQ(cal.kv_cache.count("layers.4.self_attn"), 0u);  // KV-shared: no cache of its own
  EXPECT_LT(cal.kv_cache.at("layers.0.self_attn").k_min, 0.0f);
  EXPECT_GT(cal.kv_cache.at("layers.0.self_attn").v_max, 0.0f);
}

}  // namespace
}  // namespace gq
