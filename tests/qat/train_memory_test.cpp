// `plan --train`'s estimate (recipes/train_memory.h) against the CPU tensor bytes LibTorch really
// holds while the trainer runs two steps on tiny-e2b: QAT q4_0 and plain training, at two shapes.
#include <gtest/gtest.h>

#include <filesystem>

#include <unistd.h>

#include "patterned_docs.h"
#include "model/quant_targets.h"
#include "qat/cpu_memory_meter.h"
#include "qat/trainer.h"
#include "recipes/train_memory.h"

namespace gq {
namespace {

namespace fs = std::filesystem;

// The estimate's stated accuracy: within 15% of the measured peak.
constexpr double kTolerance = 0.15;

struct Measured {
  int64_t peak = 0, estimate = 0;
};

Measured measure(const std::string& recipe_name, int64_t batch, int64_t seq_len, bool checkpointing = false) {
  const Gemma4Config cfg = Gemma4Config::load(std::string(GQ_TEST_DATA) + "/../../examples/configs/tiny-e2b.json");
  std::optional<ResolvedRecipe> recipe;
  if (!recipe_name.empty()) recipe = resolve_recipe(Recipe::load(recipe_name), gemma4_quant_targets(cfg), DType::F32);
  TrainOptions o;
  o.steps = 2;
  o.batch_size = batch;
  o.seq_len = seq_len;
  o.warmup_steps = 1;
  o.eval_every = 0;
  o.save_every = 0;
  o.activation_checkpointing = checkpointing;
  const std::string dir =
      (fs::path(::testing::TempDir()) / ("gq_train_memory_" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  Measured m;
  {
    CpuMemoryMeter meter;  // before the model exists: its weights are counted too
    at::manual_seed(0);
    Gemma4Model model(cfg);
    const int32_t vocab = int32_t(cfg.vocab_size);
    Trainer t(model, recipe, std::nullopt, Gemma4Model(nullptr),
              pack_documents(test::patterned_docs(8, int(batch * (seq_len + 1) * 3), vocab), seq_len, 2),
              pack_documents(test::patterned_docs(2, int(seq_len + 1) * 2, vocab), seq_len, 2), o, dir, "{}", "");
    // The peak of two steps (the second holds gradients and AdamW state from the first), read before
    // the final checkpoint is written.
    t.run([&](const TrainProgress& p) {
      if (p.step == 2) m.peak = meter.peak_bytes();
    });
  }
  fs::remove_all(dir);
  TrainMemoryOptions opt;
  opt.seq_len = seq_len;
  opt.micro_batch = batch;
  m.estimate = train_memory(cfg, recipe, opt).per_device(1, 0, checkpointing);
  return m;
}

void expect_close(const Measured& m, const std::string& what) {
  ASSERT_GT(m.peak, 0) << what;
  const double ratio = double(m.estimate) / double(m.peak);
  std::printf("%s: estimated %lld bytes, measured peak %lld bytes (ratio %.3f)\n", what.c_str(), (long long)m.estimate,
              (long long)m.peak, ratio);
  EXPECT_NEAR(ratio, 1.0, kTolerance) << what;
}

TEST(TrainMemory, QatEstimateMatchesTheMeasuredPeakOnTinyE2b) {
  expect_close(measure("q4_0", 4, 64), "q4_0, batch 4 x 64");
  expect_close(measure("q4_0", 1, 256), "q4_0, batch 1 x 256");
}

// Per-layer activation checkpointing: the checkpointed estimate holds, and the peak really drops.
TEST(TrainMemory, CheckpointedEstimateMatchesTheMeasuredPeakOnTinyE2b) {
  const Measured ckpt = measure("q4_0", 1, 256, /*checkpointing=*/true);
  expect_close(ckpt, "q4_0, batch 1 x 256, activation checkpointing");
  const Measured full = measure("q4_0", 1, 256);
  EXPECT_LT(ckpt.peak, full.peak);
  std::printf("checkpointed / not measured peak: %.3f\n", double(ckpt.peak) / double(full.peak));
}

TEST(TrainMemory, PlainEstimateMatchesTheMeasuredPeakOnTinyE2b) {
  expect_close(measure("", 2, 128), "plain, batch 2 x 128");
}

// The persistent parts follow the AdamW arithmetic exactly, and ZeRO divides what it shards.
TEST(TrainMemory, ZeroStagesShardOptimizerThenGradientsThenWeights) {
  const Gemma4Config cfg = Gemma4Config::load(std::string(GQ_TEST_DATA) + "/../../examples/configs/e2b.json");
  const TrainMemory m = train_memory(cfg, std::nullopt, TrainMemoryOptions{});
  EXPECT_EQ(m.weights, 4 * m.params);
  EXPECT_EQ(m.optimizer, 8 * m.params);
  EXPECT_EQ(m.master_weights, 0);
  const int64_t z0 = m.per_device(8, 0, false), z1 = m.per_device(8, 1, false), z2 = m.per_device(8, 2, false);
  EXPECT_NEAR(double(z0 - z1), double(m.optimizer) * 7 / 8, 8);
  EXPECT_NEAR(double(z1 - z2), double(m.grads) * 7 / 8, 8);
  EXPECT_LT(m.per_device(8, 0, true), z0);  // checkpointing saves activations
  TrainMemoryOptions bf16;
  bf16.weight_dtype = DType::BF16;
  const TrainMemory mb = train_memory(cfg, std::nullopt, bf16);
  EXPECT_EQ(mb.weights, 2 * mb.params);
  EXPECT_EQ(mb.master_weights, 4 * mb.params);
}

}  // namespace
}  // namespace gq
