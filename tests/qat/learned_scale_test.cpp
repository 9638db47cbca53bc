// Learned (LSQ) scales stay valid whatever AdamW does: positive and floored for uniform schemes,
// the initial (ggml RTN) sign for GGUF blocks; they start exactly at RTN; the state a run saves
// holds the scales as used (what exporters read) and resumes exactly; and the quantizers expose
// their scale parameters for an optimizer group of their own.
#include <gtest/gtest.h>

#include <cmath>

#include <torch/optim/adamw.h>
#include <torch/types.h>

#include "fixture_util.h"
#include "io/error.h"
#include "io/half.h"
#include "model/quant_targets.h"
#include "quant/rounding.h"
#include "quant/weight.h"
#include "recipes/recipe.h"
#include "qat/activation_quantizer.h"
#include "qat/checkpoint_loader.h"
#include "qat/fake_quant_ops.h"
#include "qat/quantize.h"
#include "qat/weight_quantizer.h"

namespace gq {
namespace {

// AdamW with the weights at `lr` and the scales in their own group at lr * multiplier, no decay.
std::unique_ptr<torch::optim::AdamW> make_adamw(const std::vector<at::Tensor>& weights, const std::vector<at::Tensor>& scales,
                                                double lr, double multiplier) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(weights, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(lr).weight_decay(0.01)));
  groups.emplace_back(scales, std::make_unique<torch::optim::AdamWOptions>(
                                  torch::optim::AdamWOptions(lr * multiplier).weight_decay(0.0)));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(lr));
}

// 30 steps of a toy regression through an int4_g32 LSQ quantizer: y = fq(W) x fitted to a target
// the grid cannot hold exactly, so the scales keep moving.
TEST(LearnedScale, Int4G32ScalesStayPositiveAndFlooredUnderAdamW) {
  for (double multiplier : {1.0, kLearnedScaleLrMultiplier, 1000.0}) {
    SCOPED_TRACE(multiplier);
    at::manual_seed(0);
    const quant::WeightScheme s = quant::parse_weight_scheme("int4_g32");
    at::Tensor w = (at::randn({16, 128}) * 0.02).requires_grad_(true);
    WeightQuantizer q(s, w.detach(), /*learnable=*/true);
    const at::Tensor target = at::randn({16, 128}) * 0.03, x = at::randn({128, 64});
    auto opt = make_adamw({w}, q.scale_parameters(), 1e-3, multiplier);
    const at::Tensor s0 = q.scale();
    const float tiny = quant::scale_tiny(s.scale_dtype);
    for (int step = 0; step < 30; ++step) {
      opt->zero_grad();
      at::matmul(q.forward(w) - target, x).pow(2).mean().backward();
      opt->step();
      const at::Tensor sc = q.scale();
      ASSERT_TRUE(sc.isfinite().all().item<bool>()) << "step " << step;
      ASSERT_GE(sc.min().item<float>(), tiny) << "step " << step;
    }
    EXPECT_FALSE(at::equal(q.scale(), s0));  // they did learn
    // The exporter's check: the learned scales quantize with the codec.
    const at::Tensor w2 = w.detach().contiguous(), sc = q.scale().contiguous();
    std::vector<float> y(size_t(w2.numel()));
    EXPECT_NO_THROW(quant::fake_quant_weight_with_scales(s, w2.data_ptr<float>(), sc.data_ptr<float>(), nullptr, y.data(),
                                                         w2.size(0), w2.size(1)));
  }
}

// q4_0-lsq on the tiny model: every block scale keeps ggml's RTN sign and an fp16-normal magnitude.
TEST(LearnedScale, Q4_0LsqNeverFlipsASign) {
  Gemma4Model m = load_model(test::fixture_dir("dense_ple"));
  const ResolvedRecipe rr = resolve_recipe(Recipe::load("q4_0-lsq"), gemma4_quant_targets(m->config()));
  quantize_model(m, rr);
  std::map<std::string, at::Tensor> init;
  for (const auto& [name, t] : quantization_state(m))
    if (name.size() > 6 && name.compare(name.size() - 6, 6, ".scale") == 0) init[name] = t.clone();
  ASSERT_GT(init.size(), 10u);
  int negative = 0;
  for (const auto& [name, t] : init) negative += (t < 0).sum().item<int>();
  EXPECT_GT(negative, 0);  // ggml's d is signed: both signs occur

  std::vector<at::Tensor> weights;
  for (const auto& p : m->named_parameters(true))
    if (p.key().find("_fq.") == std::string::npos) weights.push_back(p.value());
  const std::vector<at::Tensor> scales = learned_scale_parameters(m);
  EXPECT_EQ(scales.size(), init.size());
  auto opt = make_adamw(weights, scales, 1e-3, kLearnedScaleLrMultiplier);
  at::manual_seed(1);
  const float tiny = quant::scale_tiny(DType::F16);
  for (int step = 0; step < 30; ++step) {
    const at::Tensor ids = at::randint(512, {2, 17}, at::kLong);
    opt->zero_grad();
    const at::Tensor logits = m->forward(ids.narrow(1, 0, 16)).logits;
    at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), ids.narrow(1, 1, 16).reshape(-1)).backward();
    opt->step();
  }
  int moved = 0;
  for (const auto& [name, t] : quantization_state(m)) {
    auto it = init.find(name);
    if (it == init.end()) continue;
    EXPECT_TRUE(at::equal(t.sign(), it->second.sign())) << name;
    EXPECT_GE(t.abs().min().item<float>(), tiny) << name;
    EXPECT_TRUE(t.to(at::kHalf).to(at::kFloat).abs().min().item<float>() >= tiny) << name;
    moved += !at::equal(t, it->second);
  }
  EXPECT_GT(moved, 10);
}

// A learnable quantizer starts at the RTN scales exactly (the ratio starts at exp(0) = 1): for the
// uniform schemes its first forward is RTN bit for bit; a GGUF block starts at ggml's signed d.
TEST(LearnedScale, StartsExactlyAtRtn) {
  at::manual_seed(2);
  for (const char* name : {"int4_g32", "int4_channel@bf16", "int4_g128_asym", "int8_channel@f16", "q4_0", "q2_0", "q8_0"}) {
    SCOPED_TRACE(name);
    const quant::WeightScheme s = quant::parse_weight_scheme(name);
    const at::Tensor w = at::randn({8, 128}) * 0.05;
    WeightQuantizer learned(s, w, true), rtn(s, w, false);
    at::NoGradGuard ng;
    EXPECT_TRUE(at::equal(learned.scale(), weight_rtn_params(s, w).first));
    if (!s.is_gguf()) {
      EXPECT_TRUE(at::equal(learned.forward(w), rtn.forward(w)));
    }
  }
}

TEST(LearnedScale, StateHoldsTheScalesAsUsedAndRestoresExactly) {
  const quant::WeightScheme s = quant::parse_weight_scheme("q4_0");
  at::manual_seed(3);
  const at::Tensor w = at::randn({4, 64});
  WeightQuantizer a(s, w, true);
  {
    at::NoGradGuard ng;
    a.learned().log_ratio.uniform_(-0.3, 0.3);
  }
  const auto state = a.saved_state();
  ASSERT_EQ(state.count("scale"), 1u);
  ASSERT_EQ(state.count("init_scale"), 1u);
  ASSERT_EQ(state.count("log_scale_ratio"), 1u);
  EXPECT_TRUE(at::equal(state.at("scale"), a.scale()));
  auto lookup = [](const std::map<std::string, at::Tensor>& m) {
    return [&m](const std::string& n) -> const at::Tensor* {
      auto it = m.find(n);
      return it == m.end() ? nullptr : &it->second;
    };
  };
  WeightQuantizer b(s, at::zeros({4, 64}), true);
  b.load_saved_state(lookup(state), "w.");
  EXPECT_TRUE(at::equal(b.learned().log_ratio, a.learned().log_ratio));
  EXPECT_TRUE(at::equal(b.scale(), a.scale()));
  // A run saved before log ratios holds only "scale": it becomes the starting point, sign kept.
  std::map<std::string, at::Tensor> old = {{"scale", a.scale()}};
  WeightQuantizer c(s, w, true);
  c.load_saved_state(lookup(old), "w.");
  EXPECT_TRUE(at::equal(c.scale(), a.scale()));
  EXPECT_TRUE(at::equal(c.learned().log_ratio, at::zeros_like(c.learned().log_ratio)));
  // A positive scheme reads an old negative scale by its magnitude, floored.
  WeightQuantizer d(quant::parse_weight_scheme("int4_g32"), w, true);
  std::map<std::string, at::Tensor> bad = {{"scale", at::full({4, 2}, -0.5f).index_put_({0, 0}, 0.0f)}};
  d.load_saved_state(lookup(bad), "w.");
  EXPECT_EQ(d.scale()[1][1].item<float>(), 0.5f);
  EXPECT_EQ(d.scale()[0][0].item<float>(), quant::scale_tiny(DType::F32));
  EXPECT_THROW(d.load_saved_state(lookup({}), "w."), FormatError);
}

TEST(LearnedScale, ActivationScalesStayPositiveAndReportTheComputeDtype) {
  ActivationQuantizer q(quant::parse_activation_scheme("int8_sym@bf16"), "minmax", /*learnable=*/true);
  q.set_params({0.05f, 0});
  at::Tensor x = (at::randn({64, 32}) * 2).requires_grad_(true);
  auto opt = make_adamw({x}, q.scale_parameters(), 1.0, 1.0);  // an absurd learning rate
  for (int step = 0; step < 30; ++step) {
    opt->zero_grad();
    (q.forward(x) - 3.0).pow(2).sum().backward();
    opt->step();
    const float s = q.params().scale;
    ASSERT_TRUE(std::isfinite(s) && s >= quant::scale_tiny(DType::BF16)) << "step " << step;
    ASSERT_EQ(s, bf16_to_f32(f32_to_bf16(s)));  // params() is the scale as vLLM computes with it
  }
  EXPECT_NE(q.params().scale, 0.05f);
  EXPECT_EQ(q.saved_state().count("scale"), 1u);
}

// One scale parameter per learnable quantizer; a fused group's shared quantizer counts once.
TEST(LearnedScale, ModelListsEachScaleParameterOnce) {
  Gemma4Model m = load_model(test::fixture_dir("dense_keqv"));
  const ResolvedRecipe rr = resolve_recipe(
      Recipe::parse(R"({"weights": [{"targets": ["re:layers\\.0\\..*"], "scheme": "int4_g32"}],
                        "input_activations": [{"targets": ["re:layers\\.0\\..*"], "scheme": "int8_sym"}],
                        "learnable_scales": true})", "r.json"),
      gemma4_quant_targets(m->config()));
  quantize_model(m, rr);
  const size_t weights = rr.weights.size();
  // Inputs of layer 0: q/k/v share one, gate/up one, o and down their own.
  EXPECT_EQ(learned_scale_parameters(m).size(), weights + 4);
  for (const at::Tensor& p : learned_scale_parameters(m)) EXPECT_TRUE(p.requires_grad());
}

}  // namespace
}  // namespace gq
