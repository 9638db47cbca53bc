// The training loop: exact resume, a non-finite loss stops the run and keeps the last checkpoint,
// and QAT fine-tuning lowers the validation loss.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include <unistd.h>

#include <torch/types.h>

#include "fixture_util.h"
#include "patterned_docs.h"
#include "model/quant_targets.h"
#include "qat/checkpoint_loader.h"
#include "qat/quantize.h"
#include "qat/trainer.h"

namespace gq {
namespace {

namespace fs = std::filesystem;

std::string temp_run(const std::string& name) {
  const fs::path p = fs::path(::testing::TempDir()) / ("gq_run_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

const char* kLearnableRecipe = R"({
  "name": "test-lsq",
  "weights": [{"targets": ["Linear"], "scheme": "int4_g32"}, {"targets": ["Embedding"], "scheme": "q4_0"}],
  "input_activations": [{"targets": ["re:layers\\.\\d+\\.mlp\\..*"], "scheme": "int8_asym"}],
  "kv_cache": "kv_int8",
  "learnable_scales": true
})";

struct TrainSetup {
  Gemma4Model model{nullptr};
  std::optional<ResolvedRecipe> recipe;
  TokenWindows train, valid;
};

TrainSetup make_setup(const std::string& recipe_json, int64_t seq_len) {
  TrainSetup s;
  s.model = load_model(test::fixture_dir("dense_ple"));
  if (!recipe_json.empty())
    s.recipe = resolve_recipe(Recipe::parse(recipe_json, "test-recipe.json"), gemma4_quant_targets(s.model->config()));
  s.train = pack_documents(test::patterned_docs(40, 90, 512), seq_len, 2);
  s.valid = pack_documents(test::patterned_docs(6, 90, 512), seq_len, 2);
  return s;
}

TrainOptions small_options(int64_t steps) {
  TrainOptions o;
  o.steps = steps;
  o.batch_size = 4;
  o.seq_len = 24;
  o.grad_accum = 2;
  o.lr = 2e-3;
  o.warmup_steps = 3;
  o.decay_steps = 20;
  o.eval_every = 0;
  o.eval_batches = 4;
  o.save_every = 5;
  return o;
}

std::map<std::string, at::Tensor> all_state(Gemma4Model& m) {
  std::map<std::string, at::Tensor> out = quantization_state(m);
  for (const auto& p : m->named_parameters(true)) out["param." + p.key()] = p.value();
  return out;
}

TEST(Trainer, TenStepsResumeTenEqualsTwentyStepsExactly) {
  const std::string a = temp_run("a"), b = temp_run("b");
  {
    TrainSetup s = make_setup(kLearnableRecipe, 24);
    Trainer t(s.model, s.recipe, std::nullopt, Gemma4Model(nullptr), s.train, s.valid, small_options(20), b, kLearnableRecipe, "");
    t.run();
  }
  {
    TrainSetup s = make_setup(kLearnableRecipe, 24);
    Trainer t(s.model, s.recipe, std::nullopt, Gemma4Model(nullptr), s.train, s.valid, small_options(10), a, kLearnableRecipe, "");
    t.run();
  }
  TrainSetup s = make_setup(kLearnableRecipe, 24);
  Trainer resumed(s.model, s.recipe, std::nullopt, Gemma4Model(nullptr), s.train, s.valid, small_options(20), a,
                  kLearnableRecipe, "");
  resumed.resume();
  EXPECT_EQ(resumed.step(), 10);
  resumed.run();

  // Compare the saved checkpoints of both runs, tensor by tensor, bit for bit.
  TrainSetup ra = make_setup(kLearnableRecipe, 24), rb = make_setup(kLearnableRecipe, 24);
  Trainer ta(ra.model, ra.recipe, std::nullopt, Gemma4Model(nullptr), ra.train, ra.valid, small_options(30), a, kLearnableRecipe, "");
  Trainer tb(rb.model, rb.recipe, std::nullopt, Gemma4Model(nullptr), rb.train, rb.valid, small_options(30), b, kLearnableRecipe, "");
  ta.resume();
  tb.resume();
  EXPECT_EQ(ta.step(), 20);
  EXPECT_EQ(tb.step(), 20);
  auto sa = all_state(ta.model()), sb = all_state(tb.model());
  ASSERT_EQ(sa.size(), sb.size());
  int learned_scales = 0;
  for (const auto& [name, t] : sa) {
    ASSERT_TRUE(sb.count(name)) << name;
    EXPECT_TRUE(at::equal(t, sb[name])) << name;
    learned_scales += name.find(".weight.scale") != std::string::npos;
  }
  EXPECT_GT(learned_scales, 10);
  // The learned scales moved away from their RTN initialisation.
  TrainSetup fresh = make_setup(kLearnableRecipe, 24);
  quantize_model(fresh.model, *fresh.recipe);
  const auto init = quantization_state(fresh.model);
  EXPECT_FALSE(at::equal(init.at("layers.0.mlp.up_proj.weight.scale"), sa.at("layers.0.mlp.up_proj.weight.scale")));
  fs::remove_all(a);
  fs::remove_all(b);
}

// Before --fake-quant-start the QAT run is plain training: identical weights to a run without a recipe.
TEST(Trainer, DelayedFakeQuantStartTrainsThePlainModelFirst) {
  const std::string a = temp_run("delay_qat"), b = temp_run("delay_plain");
  TrainOptions o = small_options(3);
  o.save_every = 0;
  TrainSetup qat = make_setup("", 24), plain = make_setup("", 24);
  qat.recipe = resolve_recipe(Recipe::load("q4_0"), gemma4_quant_targets(qat.model->config()));
  TrainOptions delayed = o;
  delayed.fake_quant_start = 100;
  Trainer tq(qat.model, qat.recipe, std::nullopt, Gemma4Model(nullptr), qat.train, qat.valid, delayed, a, "{}", "");
  Trainer tp(plain.model, std::nullopt, std::nullopt, Gemma4Model(nullptr), plain.train, plain.valid, o, b, "", "");
  tq.run();
  tp.run();
  auto pq = tq.model()->named_parameters(true), pp = tp.model()->named_parameters(true);
  for (const auto& p : pp) EXPECT_TRUE(at::equal(pq[p.key()], p.value())) << p.key();
  // Switched on, the same quantizers change the output.
  TrainOptions on = o;
  TrainSetup qat2 = make_setup("", 24);
  qat2.recipe = qat.recipe;
  Trainer tq2(qat2.model, qat2.recipe, std::nullopt, Gemma4Model(nullptr), qat2.train, qat2.valid, on, a + "2", "{}", "");
  tq2.run();
  EXPECT_FALSE(at::equal(tq2.model()->named_parameters(true)["layers.0.mlp.up_proj.weight"],
                         pp["layers.0.mlp.up_proj.weight"]));
  fs::remove_all(a);
  fs::remove_all(a + "2");
  fs::remove_all(b);
}

TEST(Trainer, NonFiniteLossStopsAndKeepsTheLastCheckpoint) {
  const std::string dir = temp_run("nan");
  TrainSetup s = make_setup("", 24);
  TrainOptions o = small_options(40);
  o.save_every = 1;
  o.clip_grad_norm = 0;
  o.warmup_steps = 0;
  o.lr = 1e9;  // diverges within a few steps
  o.decay_steps = 1000;
  Trainer t(s.model, std::nullopt, std::nullopt, Gemma4Model(nullptr), s.train, s.valid, o, dir, "", "");
  try {
    t.run();
    FAIL() << "a diverging run must stop";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("the loss is"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("last checkpoint"), std::string::npos) << e.what();
  }
  ASSERT_TRUE(fs::exists(fs::path(dir) / "checkpoint" / "train_state.json"));
  std::set<std::string> entries;  // no staging or previous checkpoint left beside it
  for (const auto& e : fs::directory_iterator(dir)) entries.insert(e.path().filename().string());
  EXPECT_EQ(entries, (std::set<std::string>{"checkpoint", "metrics.jsonl"}));
  Gemma4Model kept = load_model(dir);  // loads, and its weights are finite
  for (const auto& p : kept->named_parameters(true)) EXPECT_TRUE(at::isfinite(p.value()).all().item<bool>()) << p.key();
  fs::remove_all(dir);
}

TEST(Trainer, QatFineTuningLowersValidationLoss) {
  for (const char* recipe : {"q4_0", "mobile"}) {
    SCOPED_TRACE(recipe);
    const std::string dir = temp_run(recipe);
    TrainSetup s = make_setup("", 24);
    const Recipe r = Recipe::load(recipe);
    s.recipe = resolve_recipe(r, gemma4_quant_targets(s.model->config()));
    TrainOptions o = small_options(12);
    o.save_every = 0;
    Trainer t(s.model, s.recipe, std::nullopt, Gemma4Model(nullptr), s.train, s.valid, o, dir, "{}", "");
    double after_first = 0;
    t.run([&](const TrainProgress& p) {
      if (p.step == 1) after_first = t.evaluate();
    });
    const double final_loss = t.evaluate();
    EXPECT_LT(final_loss, after_first - 0.1) << "after step 1: " << after_first << ", after 12: " << final_loss;
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace gq
