// AWQ (qat/awq.h) against brute force: on a small Linear group, the searched ratio and its loss are
// those of an exhaustive evaluation of the objective written out on the calibration rows themselves,
// ||X Wᵀ − (X / s) Q(W · s)ᵀ||² (not through the Hessian), over every ratio of the grid; and on the
// tiny Gemma 4 fixtures (dense with PLE, K=V, MoE) every mapping's fold leaves the float model's
// logits unchanged (bit-exact with powers of two as scales), and the full search changes the weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include <ATen/ATen.h>

#include "fixture_util.h"
#include "model/quant_targets.h"
#include "qat/awq.h"
#include "qat/calibration_pass.h"
#include "qat/checkpoint_loader.h"
#include "qat/fake_quant_ops.h"
#include "quant/scheme.h"
#include "recipes/recipe.h"

namespace gq {
namespace {

// Inputs with a few salient channels (mean |x| ten times the rest): what AWQ's scaling is for.
at::Tensor salient_inputs(int64_t n, int64_t cols, uint64_t seed) {
  at::manual_seed(seed);
  at::Tensor gain = at::ones({cols}, at::kFloat);
  for (int64_t c = 0; c < cols; c += 7) gain[c] = 10.0;
  return at::randn({n, cols}, at::kFloat) * gain;
}

// The objective on the rows themselves, in float64.
double direct_loss(const at::Tensor& x, const std::vector<AwqBalance>& balance, const at::Tensor& s) {
  const at::Tensor xd = x.to(at::kDouble), sf = s.to(at::kFloat).reshape({1, -1});
  double loss = 0;
  for (const AwqBalance& b : balance) {
    const at::Tensor q = b.scheme ? fake_quant_weight_rtn(*b.scheme, (b.weight * sf).contiguous()) : b.weight * sf;
    const at::Tensor out = xd.matmul(b.weight.to(at::kDouble).t());
    const at::Tensor out_q = (xd / s.to(at::kDouble).reshape({1, -1})).matmul(q.to(at::kDouble).t());
    loss += (out - out_q).pow(2).sum().item<double>();
  }
  return loss;
}

struct Case {
  const char* scheme;
  int64_t cols;
  bool duo_scaling;
  bool second_unquantized;  // a balance Linear the recipe leaves in float
};

class AwqBruteForce : public ::testing::TestWithParam<Case> {};

TEST_P(AwqBruteForce, SearchedRatioIsTheExhaustiveMinimum) {
  const Case c = GetParam();
  const quant::WeightScheme scheme = quant::parse_weight_scheme(c.scheme);
  const int64_t n = 300;
  const at::Tensor x = salient_inputs(n, c.cols, 7);
  at::manual_seed(11);
  std::vector<AwqBalance> balance = {{at::randn({12, c.cols}, at::kFloat) * 0.05, scheme},
                                     {at::randn({6, c.cols}, at::kFloat) * 0.02, scheme}};
  if (c.second_unquantized) balance[1].scheme.reset();

  InputStatsCollector stats(c.cols);
  stats.forward(x.narrow(0, 0, 100).reshape({4, 25, c.cols}));  // in pieces, any leading shape
  stats.forward(x.narrow(0, 100, n - 100));
  ASSERT_TRUE(at::allclose(stats.abs_mean(), x.to(at::kDouble).abs().mean(0), 1e-12, 1e-12));

  AwqOptions opt;
  opt.duo_scaling = c.duo_scaling;
  const AwqSearchResult r = awq_search(balance, stats.abs_mean(), stats.hessian(), opt);

  const at::Tensor x_mean = x.to(at::kDouble).abs().mean(0), w_mean = awq_weight_mean(balance);
  double best = INFINITY, best_ratio = -1;
  for (int64_t k = 0; k < opt.n_grid; ++k) {
    const double ratio = double(k) / double(opt.n_grid);
    const double loss = direct_loss(x, balance, awq_candidate_scale(x_mean, w_mean, ratio, c.duo_scaling));
    if (loss < best) best = loss, best_ratio = ratio;
  }
  EXPECT_EQ(r.ratio, best_ratio);
  // tr(Δ H Δᵀ) with H = 2 XᵀX / n is the direct loss times 2 / n.
  EXPECT_NEAR(r.loss_awq * double(n) / 2.0, best, 1e-6 * best);
  const double rtn = direct_loss(x, balance, at::ones({c.cols}, at::kDouble));
  EXPECT_NEAR(r.loss_rtn * double(n) / 2.0, rtn, 1e-6 * rtn);
  // On salient channels the search finds a scaling better than plain RTN (the case AWQ exists for).
  EXPECT_LT(best, rtn);
  EXPECT_GT(best_ratio, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Schemes, AwqBruteForce,
                         ::testing::Values(Case{"int2_channel", 48, true, false}, Case{"int4_channel", 48, true, true},
                                           Case{"int2_channel", 48, false, false}, Case{"q4_0", 64, true, false},
                                           Case{"int4_g32", 64, false, true}));

TEST(AwqScale, IsNormalisedAndRatioZeroWithoutDuoIsIdentity) {
  const at::Tensor x_mean = at::tensor({0.5, 2.0, 8.0, 0.0}, at::kDouble), w_mean = at::tensor({0.3, 0.9, 0.5, 0.7}, at::kDouble);
  const at::Tensor s = awq_candidate_scale(x_mean, w_mean, 0.45, true);
  EXPECT_NEAR((s.max() * s.min()).item<double>(), 1.0, 1e-12);
  // By hand: s_c = max(x^0.45 / (w^0.55 + 1e-4), 1e-4), then / sqrt(max · min).
  std::vector<double> raw;
  for (int c = 0; c < 4; ++c)
    raw.push_back(std::max(std::pow(x_mean[c].item<double>(), 0.45) / (std::pow(w_mean[c].item<double>(), 0.55) + 1e-4), 1e-4));
  const double norm = std::sqrt(*std::max_element(raw.begin(), raw.end()) * *std::min_element(raw.begin(), raw.end()));
  for (int c = 0; c < 4; ++c) EXPECT_NEAR(s[c].item<double>(), raw[size_t(c)] / norm, 1e-12);
  EXPECT_TRUE(at::equal(awq_candidate_scale(x_mean, w_mean, 0.0, false), at::ones({4}, at::kDouble)));
}

class AwqFold : public ::testing::TestWithParam<const char*> {};

std::vector<int64_t> random_ids(int64_t n, int64_t vocab, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor r = at::randint(3, vocab, {n}, at::kLong);
  return std::vector<int64_t>(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + n);
}

// Every mapping is exact: with powers of two as scales no product or sum rounds differently, so
// the float32 logits are bit-identical (an inexact mapping, e.g. v_proj -> o_proj across v_norm,
// changes them at once).
TEST_P(AwqFold, EveryMappingIsExactWithPowerOfTwoScales) {
  Gemma4Model model = load_model(test::fixture_dir(GetParam()));
  model->eval();
  at::NoGradGuard ng;
  const at::Tensor ids = at::tensor(random_ids(48, model->config().vocab_size, 5), at::kLong).view({2, 24});
  const at::Tensor before = model->forward(ids).logits.clone();
  int64_t folded = 0;
  for (int64_t i = 0; i < model->config().L(); ++i)
    for (const AwqMapping& m : awq_layer_mappings(model, i)) {
      const int64_t cols = m.balance.front()->weight.size(1);
      awq_fold(m, at::pow(2.0, at::randint(-3, 4, {cols}, at::kLong).to(at::kDouble)));
      ++folded;
    }
  EXPECT_EQ(folded, 3 * model->config().L());
  EXPECT_EQ(test::max_abs_diff(before, model->forward(ids).logits), 0.0);
}

TEST_P(AwqFold, LeavesFloatLogitsUnchangedAndChangesWeights) {
  Gemma4Model model = load_model(test::fixture_dir(GetParam()));
  model->eval();
  const Gemma4Config cfg = model->config();
  std::vector<int32_t> doc;
  for (int64_t t : random_ids(400, cfg.vocab_size, 3)) doc.push_back(int32_t(t));
  const TokenWindows calib = pack_documents({doc}, 32, int32_t(cfg.bos_token_id));
  const at::Tensor ids = at::tensor(random_ids(48, cfg.vocab_size, 4), at::kLong).view({2, 24});

  at::NoGradGuard ng;
  const at::Tensor before = model->forward(ids).logits.clone();
  const at::Tensor norm_before = model->decoder_layers[0]->input_layernorm->weight.clone();
  const at::Tensor down_before = model->decoder_layers[0]->mlp->down_proj->weight.clone();
  const ResolvedRecipe recipe = resolve_recipe(Recipe::load(std::string(GQ_TEST_DATA) + "/../../examples/recipes/int2-channel.json"), gemma4_quant_targets(cfg));
  const std::vector<AwqMappingReport> rep = awq_smooth_model(model, recipe, calib, 4, 0, AwqOptions{});
  const at::Tensor after = model->forward(ids).logits;

  ASSERT_EQ(rep.size(), size_t(3 * cfg.L()));
  for (const AwqMappingReport& m : rep) EXPECT_TRUE(m.samples > 0 && m.searched) << m.smooth;
  EXPECT_GT(test::max_abs_diff(norm_before, model->decoder_layers[0]->input_layernorm->weight), 1e-3);
  EXPECT_GT(test::max_abs_diff(down_before, model->decoder_layers[0]->mlp->down_proj->weight), 1e-4);
  // The searched scales are not powers of two: float32 rounding only (1.4e-5 of max |logit| seen;
  // exactness itself is the test above).
  const double scale = before.abs().max().item<double>();
  EXPECT_LT(test::max_abs_diff(before, after), 5e-5 * scale) << "max |logit| " << scale;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AwqFold, ::testing::Values("dense_ple", "dense_keqv", "moe_keqv"));

}  // namespace
}  // namespace gq
