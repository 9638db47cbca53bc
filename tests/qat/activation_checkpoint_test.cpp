// Per-layer activation checkpointing (ForwardOptions::checkpoint_layers) gives the loss, the logits
// and every parameter gradient of the plain backward, bit for bit: on the fixtures with KV sharing
// and PLE (dense_ple), MoE with K=V (moe_keqv) and K=V alone (dense_keqv), under q4_0 and mobile
// with learned scales and a recipe that also fake-quantizes activations and the KV cache.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include <ATen/autocast_mode.h>
#include <torch/autograd.h>
#include <torch/version.h>

#include "fixture_util.h"
#include "model/quant_targets.h"
#include "qat/activation_checkpoint.h"
#include "qat/checkpoint_loader.h"
#include "qat/quantize.h"

namespace gq {
namespace {

// LSQ on int4 blocks, static int8 MLP inputs and an int8 KV cache: every kind of seam a layer has.
const char* kActivationsAndKvRecipe = R"({
  "name": "test-lsq-kv",
  "weights": [{"targets": ["Linear", "Experts"], "scheme": "int4_g32"}, {"targets": ["Embedding"], "scheme": "q4_0"}],
  "input_activations": [{"targets": ["re:layers\\.\\d+\\.mlp\\..*"], "scheme": "int8_asym"}],
  "kv_cache": "kv_int8",
  "learnable_scales": true
})";

ResolvedRecipe learnable(const std::string& name, const Gemma4Config& cfg) {
  Recipe r = name == "test-lsq-kv" ? Recipe::parse(kActivationsAndKvRecipe, "test-lsq-kv.json") : Recipe::load(name);
  r.learnable_scales = true;
  return resolve_recipe(r, gemma4_quant_targets(cfg));
}

at::Tensor test_ids(const Gemma4Config& cfg, int64_t batch, int64_t tokens) {
  at::manual_seed(7);
  return at::randint(3, cfg.vocab_size, {batch, tokens + 1}, at::kLong);
}

// True if the autograd graph behind `t` holds a checkpoint node (so the test compares two paths).
bool graph_has_checkpoint(const at::Tensor& t) {
  std::vector<torch::autograd::Node*> todo{t.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  while (!todo.empty()) {
    torch::autograd::Node* n = todo.back();
    todo.pop_back();
    if (!n || !seen.insert(n).second) continue;
    if (n->name().find("Checkpoint") != std::string::npos) return true;
    for (const auto& e : n->next_edges()) todo.push_back(e.function.get());
  }
  return false;
}

struct StepResult {
  at::Tensor loss, logits;
  std::map<std::string, at::Tensor> grads;
  bool checkpointed = false;
};

StepResult forward_backward(Gemma4Model& m, const at::Tensor& ids, bool checkpoint) {
  for (auto& p : m->parameters()) p.mutable_grad() = at::Tensor();
  ForwardOptions o;
  o.checkpoint_layers = checkpoint;
  const int64_t T = ids.size(1) - 1;
  StepResult r;
  r.logits = m->forward(ids.narrow(1, 0, T), nullptr, o).logits;
  r.checkpointed = graph_has_checkpoint(r.logits);
  r.loss = at::cross_entropy_loss(r.logits.reshape({-1, r.logits.size(-1)}), ids.narrow(1, 1, T).reshape(-1));
  r.loss.backward();
  for (const auto& p : m->named_parameters(true))
    if (p.value().grad().defined()) r.grads[p.key()] = p.value().grad().clone();
  r.logits = r.logits.detach();
  return r;
}

void expect_identical_step(const std::string& fixture, const std::string& recipe, bool freeze_embedding = false) {
  SCOPED_TRACE(fixture + " / " + recipe);
  Gemma4Model m = load_model(test::fixture_dir(fixture));
  const Gemma4Config& cfg = m->config();
  const at::Tensor ids = test_ids(cfg, 2, 24);
  const ResolvedRecipe rr = learnable(recipe, cfg);
  quantize_model(m, rr, nullptr);
  if (rr.has_static_activations()) {
    begin_calibration(m);
    {
      at::NoGradGuard ng;
      m->forward(ids.narrow(1, 0, 24));
    }
    finish_calibration(m, rr.name, rr.observer);
  }
  if (freeze_embedding) m->embed_tokens->weight.requires_grad_(false);
  m->train();

  const StepResult plain = forward_backward(m, ids, false);
  const StepResult ckpt = forward_backward(m, ids, true);
  ASSERT_FALSE(plain.checkpointed);
  ASSERT_TRUE(ckpt.checkpointed);
  EXPECT_TRUE(at::equal(plain.loss, ckpt.loss)) << plain.loss.item<double>() << " vs " << ckpt.loss.item<double>();
  EXPECT_TRUE(at::equal(plain.logits, ckpt.logits)) << "max |dlogit| " << test::max_abs_diff(plain.logits, ckpt.logits);

  // Every parameter that needs a gradient has one in both runs, and they are equal.
  int learned_scales = 0, layer_params = 0;
  for (const auto& p : m->named_parameters(true)) {
    if (!p.value().requires_grad()) continue;
    const std::string& name = p.key();
    ASSERT_TRUE(plain.grads.count(name)) << name << " has no gradient without checkpointing";
    ASSERT_TRUE(ckpt.grads.count(name)) << name << " has no gradient with checkpointing";
    const at::Tensor& a = plain.grads.at(name);
    const at::Tensor& b = ckpt.grads.at(name);
    EXPECT_TRUE(at::equal(a, b)) << name << ": max |dgrad| " << test::max_abs_diff(a, b) << " of max |grad| "
                                 << a.abs().max().item<double>();
    if (name.find("log_scale_ratio") != std::string::npos) ++learned_scales;
    if (name.rfind("layers.", 0) == 0) ++layer_params;
  }
  EXPECT_GT(learned_scales, 0) << "the recipe should learn scales";
  EXPECT_GT(layer_params, 0);
}

TEST(ActivationCheckpoint, KvSharingAndPleGradientsEqualThePlainBackward) {
  expect_identical_step("dense_ple", "q4_0");
  expect_identical_step("dense_ple", "mobile");
  expect_identical_step("dense_ple", "test-lsq-kv");
}

TEST(ActivationCheckpoint, MoeGradientsEqualThePlainBackward) {
  expect_identical_step("moe_keqv", "q4_0");
  expect_identical_step("moe_keqv", "test-lsq-kv");
}

// The first layer's input needs no gradient when the embedding is frozen; its parameters still do.
TEST(ActivationCheckpoint, FrozenEmbeddingStillGivesTheFirstLayerItsGradients) {
  expect_identical_step("dense_keqv", "q4_0", /*freeze_embedding=*/true);
}

// The generic function: gradients reach the inputs, the parameters a capture holds, and an output
// nobody reads costs nothing; without grad mode it is a plain call.
TEST(ActivationCheckpoint, GenericFunctionRoutesInputAndParameterGradients) {
  at::manual_seed(1);
  const at::Tensor w = at::randn({4, 4}).requires_grad_();
  const at::Tensor x = at::randn({3, 4}).requires_grad_();
  const CheckpointedFn fn = [w](const std::vector<at::Tensor>& in) -> std::vector<at::Tensor> {
    const at::Tensor h = at::tanh(at::matmul(in[0], w));
    return {h * in[0], h.sum(0)};
  };
  const at::Tensor plain = fn({x})[0].pow(2).sum();
  plain.backward();
  const at::Tensor gx = x.grad().clone(), gw = w.grad().clone();
  x.mutable_grad() = at::Tensor();
  w.mutable_grad() = at::Tensor();
  const std::vector<at::Tensor> out = checkpointed(fn, {x});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].grad_fn() == nullptr);
  out[0].pow(2).sum().backward();  // out[1] unused
  EXPECT_TRUE(at::equal(gx, x.grad()));
  EXPECT_TRUE(at::equal(gw, w.grad()));
  {
    at::NoGradGuard ng;
    EXPECT_FALSE(checkpointed(fn, {x})[0].requires_grad());
  }
}

}  // namespace
}  // namespace gq

namespace gq {
namespace {

void set_cpu_autocast(bool on) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_enabled(at::kCPU, on);
#else
  at::autocast::set_cpu_enabled(on);
#endif
}

// A forward under (CPU, bf16) autocast with backward called outside it, as a training step does:
// the recompute must run in bf16 again, or its gradients would be those of a float32 forward.
TEST(ActivationCheckpoint, RecomputeRunsUnderTheForwardsAutocast) {
  at::manual_seed(2);
  const at::Tensor w = at::randn({16, 16}).requires_grad_();
  const at::Tensor x = at::randn({8, 16}).requires_grad_();
  const CheckpointedFn fn = [w](const std::vector<at::Tensor>& in) -> std::vector<at::Tensor> {
    return {at::tanh(at::matmul(in[0], w))};
  };
  auto grads = [&](bool checkpoint) {
    x.mutable_grad() = at::Tensor();
    w.mutable_grad() = at::Tensor();
    at::Tensor y;
    set_cpu_autocast(true);
    y = checkpoint ? checkpointed(fn, {x})[0] : fn({x})[0];
    set_cpu_autocast(false);
    EXPECT_EQ(y.scalar_type(), at::kBFloat16);
    y.to(at::kFloat).pow(2).sum().backward();
    return std::make_pair(x.grad().clone(), w.grad().clone());
  };
  const auto plain = grads(false), ckpt = grads(true);
  EXPECT_TRUE(at::equal(plain.first, ckpt.first)) << test::max_abs_diff(plain.first, ckpt.first);
  EXPECT_TRUE(at::equal(plain.second, ckpt.second)) << test::max_abs_diff(plain.second, ckpt.second);
}

}  // namespace
}  // namespace gq
