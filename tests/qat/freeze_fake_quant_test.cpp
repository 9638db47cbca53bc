// freeze_fake_quant: inference on a fake-quant model quantizes each stored tensor once. The frozen
// model computes bit for bit what the live one does (full forward and KV-cache decode), keeps
// computing it when the source weights change (so it really does not recompute), follows them
// again once unfrozen, and refuses to train.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <torch/types.h>

#include "fixture_util.h"
#include "model/quant_targets.h"
#include "recipes/recipe.h"
#include "qat/checkpoint_loader.h"
#include "qat/generate.h"
#include "qat/quantize.h"

namespace gq {
namespace {

const std::string kTinyE2b = std::string(GQ_TEST_DATA) + "/../../examples/models/tiny-e2b";

// The model under `recipe` (a built-in name or inline JSON), calibrated on random ids when the
// recipe has static activations.
Gemma4Model fake_quant_model(const std::string& dir, const std::string& recipe) {
  Gemma4Model m = load_model(dir);
  const Recipe r = recipe.front() == '{' ? Recipe::parse(recipe, "inline.json") : Recipe::load(recipe);
  const ResolvedRecipe rr = resolve_recipe(r, gemma4_quant_targets(m->config()));
  quantize_model(m, rr);
  if (rr.has_static_activations() || rr.kv_cache) {
    begin_calibration(m);
    at::NoGradGuard ng;
    at::manual_seed(1);
    m->forward(at::randint(m->config().vocab_size, {2, 24}, at::kLong));
    finish_calibration(m, rr.name, rr.observer);
  }
  return m;
}

// Logits of a full forward, then of a prefill + 6 decode steps through the KV cache.
std::vector<at::Tensor> logits_of(Gemma4Model& m, const at::Tensor& ids) {
  at::NoGradGuard ng;
  std::vector<at::Tensor> out{m->forward(ids).logits};
  KVCache cache = m->new_cache();
  at::Tensor step = ids;
  for (int i = 0; i < 7; ++i) {
    const at::Tensor logits = m->forward(step, &cache).logits;
    out.push_back(logits);
    step = logits.select(1, -1).argmax(-1, true);
  }
  return out;
}

void expect_equal(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(at::equal(a[i], b[i])) << "forward " << i << ": max diff " << test::max_abs_diff(a[i], b[i]);
}

TEST(FreezeFakeQuant, FrozenLogitsAreBitIdentical) {
  const std::string kv_recipe =
      R"({"weights": [{"targets": ["Linear", "Experts", "Embedding"], "scheme": "q4_0"}], "kv_cache": "kv_q8_0"})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {kTinyE2b, "q4_0"},   {kTinyE2b, "mobile"},   {kTinyE2b, "q4_0-lsq"}, {kTinyE2b, kv_recipe},
      {test::fixture_dir("dense_ple"), "mobile"}, {test::fixture_dir("moe_keqv"), "q4_0"},
      {kTinyE2b, "w4a16-g32"}};
  for (const auto& [dir, recipe] : cases) {
    SCOPED_TRACE(dir + " / " + recipe);
    Gemma4Model m = fake_quant_model(dir, recipe);
    at::manual_seed(2);
    const at::Tensor ids = at::randint(m->config().vocab_size, {2, 20}, at::kLong);
    const std::vector<at::Tensor> live = logits_of(m, ids);
    freeze_fake_quant(m);
    EXPECT_TRUE(m->decoder_layers[0]->self_attn->q_proj->weight_quant.frozen());
    EXPECT_EQ(m->head_quant.frozen(), m->head_quant.get() != nullptr);
    EXPECT_FALSE(m->ple_embed_quant.frozen());  // rows quantized after the gather
    expect_equal(logits_of(m, ids), live);
    unfreeze_fake_quant(m);
    EXPECT_FALSE(m->decoder_layers[0]->self_attn->q_proj->weight_quant.frozen());
    EXPECT_FALSE(m->head_quant.frozen());
    expect_equal(logits_of(m, ids), live);
  }
}

// Frozen weights written after freezing are not seen: nothing is recomputed. Unfrozen, the model
// follows them again (and would fail the first check if freezing did nothing). The tied table on
// the head's grid is read from the head's frozen copy, so writing it is not seen either.
TEST(FreezeFakeQuant, FrozenModelDoesNotRecompute) {
  for (const std::string recipe : {"q4_0", "q4_0-lsq"}) {
    SCOPED_TRACE(recipe);
    Gemma4Model m = fake_quant_model(kTinyE2b, recipe);
    at::manual_seed(3);
    const at::Tensor ids = at::randint(m->config().vocab_size, {1, 12}, at::kLong);
    const std::vector<at::Tensor> before = logits_of(m, ids);
    freeze_fake_quant(m);
    {
      at::NoGradGuard ng;
      m->embed_tokens->weight.mul_(1.5);
      m->decoder_layers[0]->self_attn->q_proj->weight.mul_(2.0);
      m->decoder_layers[1]->mlp->down_proj->weight.add_(0.05);
      m->norm->weight.add_(0.5);
    }
    expect_equal(logits_of(m, ids), before);
    unfreeze_fake_quant(m);
    const std::vector<at::Tensor> changed = logits_of(m, ids);
    EXPECT_GT(test::max_abs_diff(changed[0], before[0]), 1e-2);
    freeze_fake_quant(m);  // a second freeze reads the weights as they are now
    expect_equal(logits_of(m, ids), changed);
  }
}

// The per-layer table is not copied: its gathered rows are quantized every forward, so a write to
// it is seen by the frozen model (no stale rows, and no float copy of E2B's 9.4 GB table).
TEST(FreezeFakeQuant, PerLayerTableStaysLive) {
  Gemma4Model m = fake_quant_model(kTinyE2b, "q4_0");
  ASSERT_TRUE(m->ple_embed_quant.get());
  at::manual_seed(4);
  const at::Tensor ids = at::randint(m->config().vocab_size, {1, 12}, at::kLong);
  const std::vector<at::Tensor> before = logits_of(m, ids);
  freeze_fake_quant(m);
  {
    at::NoGradGuard ng;
    m->embed_tokens_per_layer->weight.mul_(-1.0);
  }
  const std::vector<at::Tensor> after = logits_of(m, ids);
  EXPECT_GT(test::max_abs_diff(after[0], before[0]), 1e-2);
  unfreeze_fake_quant(m);
  expect_equal(logits_of(m, ids), after);
}

TEST(FreezeFakeQuant, TiedHeadOnTheTablesGridSharesItsCopy) {
  Gemma4Model m = fake_quant_model(kTinyE2b, "q4_0");
  ASSERT_FALSE(m->lm_head);
  freeze_fake_quant(m);
  at::NoGradGuard ng;  // frozen outputs are for inference
  const at::Tensor table = m->embed_tokens->weight;
  const at::Tensor head = m->head_quant.frozen_output(table), rows = m->embed_quant.frozen_output(table);
  ASSERT_TRUE(head.defined() && rows.defined());
  EXPECT_EQ(head.data_ptr(), rows.data_ptr());
  // mobile gives the head its own (2-bit) grid: the head is frozen, the table's rows stay live.
  Gemma4Model mobile = fake_quant_model(kTinyE2b, "mobile");
  freeze_fake_quant(mobile);
  const at::Tensor t2 = mobile->lm_head ? mobile->lm_head->weight : mobile->embed_tokens->weight;
  EXPECT_TRUE(mobile->head_quant.frozen_output(t2).defined());
  EXPECT_FALSE(mobile->embed_quant.frozen());
}

TEST(FreezeFakeQuant, RefusesGradModeAndClearsOnNewState) {
  Gemma4Model m = fake_quant_model(kTinyE2b, "q4_0-lsq");
  freeze_fake_quant(m);
  const at::Tensor ids = at::zeros({1, 4}, at::kLong);
  EXPECT_THROW(m->forward(ids), std::logic_error);  // training on a frozen model would train nothing
  load_quantization_state(m, quantization_state(m));
  EXPECT_FALSE(m->decoder_layers[0]->self_attn->q_proj->weight_quant.frozen());
  EXPECT_NO_THROW(m->forward(ids));
}

}  // namespace
}  // namespace gq
