// `export --format hf` of a QAT run: the fake-quant weights are each weight seam's output bit for bit
// (learned scales included), float tensors the run's own; the latent weights equal the run's
// model.safetensors; a head the recipe quantizes unlike its tied embedding is written untied.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include <unistd.h>

#include <torch/types.h>

#include "fixture_util.h"
#include "io/text_file.h"
#include "model/checkpoint_layout.h"
#include "model/gemma4_tensors.h"
#include "model/quant_targets.h"
#include "qat/checkpoint_loader.h"
#include "qat/checkpoint_writer.h"
#include "qat/fake_quant_ops.h"
#include "qat/quantize.h"
#include "qat/run_quantization.h"
#include "qat/trainer.h"
#include "qat/weight_quantizer.h"
#include "run/run_folder.h"
#include "text/corpus.h"

namespace gq {
namespace {

namespace fs = std::filesystem;

fs::path temp_path(const std::string& name) {
  const fs::path p = fs::path(::testing::TempDir()) / ("gq_hfw_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

// A three-step QAT run of the dense_ple fixture with a built-in recipe.
std::string short_run(const std::string& recipe_name, const fs::path& dir) {
  Gemma4Model model = load_model(test::fixture_dir("dense_ple"));
  const Recipe r = Recipe::load(recipe_name);
  std::vector<std::vector<int32_t>> docs;
  for (int d = 0; d < 20; ++d) {
    std::vector<int32_t> doc;
    for (int i = 0; i < 60; ++i) doc.push_back(3 + (d * 7 + i * (1 + d % 5)) % 500);
    docs.push_back(doc);
  }
  TrainOptions o;
  o.steps = 3;
  o.batch_size = 2;
  o.seq_len = 24;
  o.lr = 2e-3;
  o.warmup_steps = 1;
  o.eval_every = 0;
  o.save_every = 0;
  Trainer t(model, resolve_recipe(r, gemma4_quant_targets(model->config())), std::nullopt, Gemma4Model(nullptr),
            pack_documents(docs, o.seq_len, 2), pack_documents(docs, o.seq_len, 2), o, dir.string(),
            read_text_file(r.source), "");
  t.run();
  return run_folder::checkpoint_of(dir.string());
}

// The fake-quant model's value of every tensor, computed from the model's own seams: quantized
// weights and tables through theirs, every other tensor rounded to the recipe's float dtype.
std::map<std::string, at::Tensor> expected_weights(Gemma4Model& m, DType float_dtype) {
  at::NoGradGuard ng;
  const at::ScalarType st = float_dtype == DType::F16 ? at::kHalf : float_dtype == DType::BF16 ? at::kBFloat16 : at::kFloat;
  std::map<std::string, at::Tensor> out;
  for (const auto& p : m->named_parameters(true)) out[p.key()] = p.value().detach().to(st).to(at::kFloat);
  for (const auto& b : m->named_buffers(true)) out[b.key()] = b.value().detach().to(st).to(at::kFloat);
  out["embed_tokens.weight"] = m->embed_quant(m->embed_tokens->weight);
  out["embed_tokens_per_layer.weight"] = m->ple_embed_quant(m->embed_tokens_per_layer->weight);
  for (const auto& item : m->named_modules("", false))
    if (auto lin = std::dynamic_pointer_cast<QLinearImpl>(item.value())) out[item.key() + ".weight"] = lin->quantized_weight();
  return out;
}

void expect_file_holds(const std::string& dir, const std::map<std::string, at::Tensor>& want, const Gemma4Config& cfg,
                       size_t* differ_from_latent = nullptr, Gemma4Model* latent = nullptr) {
  const Checkpoint ck = Checkpoint::open(dir);
  for (const TensorSpec& s : gemma4_tensor_specs(cfg)) {
    if (s.unused) continue;
    const TensorView& tv = ck.tensor(stored_name(kTextPrefix, s.name));
    ASSERT_EQ(tv.dtype, DType::F32) << s.name;
    const at::Tensor w = want.at(s.name).contiguous();
    ASSERT_EQ(size_t(w.numel()) * 4, tv.nbytes) << s.name;
    EXPECT_EQ(std::memcmp(tv.data, w.data_ptr<float>(), tv.nbytes), 0) << s.name << " is not the fake-quant weight";
    if (differ_from_latent && latent) {
      std::map<std::string, at::Tensor> lat;
      for (const auto& p : (*latent)->named_parameters(true)) lat[p.key()] = p.value();
      if (lat.count(s.name) && !at::equal(lat.at(s.name), w)) ++*differ_from_latent;
    }
  }
}

TEST(HfExportWeights, FakeQuantWeightsOfALearnedScaleRunAreTheSeamOutputsBitForBit) {
  const fs::path root = temp_path("lsq");
  const std::string ckpt = short_run("q4_0-lsq", root / "run");
  Gemma4Model m = load_model(ckpt);
  const std::optional<RunQuantization> rq = apply_run_quantization(m, ckpt);
  ASSERT_TRUE(rq);
  ASSERT_TRUE(rq->recipe.learnable_scales);

  HfSaveOptions opt;
  opt.weights = HfWeights::kFakeQuant;
  export_hf_checkpoint(m, (root / "hf").string(), opt);
  const std::map<std::string, at::Tensor> want = expected_weights(m, rq->recipe.float_dtype);
  size_t quantized = 0;
  expect_file_holds((root / "hf").string(), want, m->config(), &quantized, &m);
  // Every quantized Linear and both tables (router and PLE model projection stay float).
  EXPECT_GT(quantized, size_t(6 * 7));
  EXPECT_TRUE(Gemma4Config::load((root / "hf").string()).tie_word_embeddings);  // the head reads the Q4_0 table

  // The learned scales moved off RTN's: some Linear's written weight is not its RTN fake quant.
  bool moved = false;
  for (const auto& item : m->named_modules("", false))
    if (auto lin = std::dynamic_pointer_cast<QLinearImpl>(item.value())) {
      auto wq = std::dynamic_pointer_cast<WeightQuantizer>(lin->weight_quant.get());
      if (!wq || !wq->learnable()) continue;
      at::NoGradGuard ng;
      moved = moved || !at::equal(fake_quant_weight_rtn(wq->scheme(), lin->weight.detach(), nullptr), want.at(item.key() + ".weight"));
    }
  EXPECT_TRUE(moved) << "three steps did not move any learned scale: the test would not see a learned grid";
  fs::remove_all(root);
}

TEST(HfExportWeights, LatentWeightsEqualTheRunsCheckpoint) {
  const fs::path root = temp_path("latent");
  const std::string ckpt = short_run("q4_0", root / "run");
  Gemma4Model m = load_model(ckpt);
  HfSaveOptions opt;
  opt.weights = HfWeights::kLatent;
  export_hf_checkpoint(m, (root / "hf").string(), opt);
  const Checkpoint run = Checkpoint::open(ckpt), out = Checkpoint::open((root / "hf").string());
  EXPECT_EQ(run.names(), out.names());
  for (const std::string& n : run.names()) {
    const TensorView &a = run.tensor(n), &b = out.tensor(n);
    ASSERT_EQ(a.dtype, b.dtype) << n;
    ASSERT_EQ(a.nbytes, b.nbytes) << n;
    EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes), 0) << n;
  }

  // The same run's fake-quant export differs: its Q4_0 weights are on the grid.
  ASSERT_TRUE(apply_run_quantization(m, ckpt));
  opt.weights = HfWeights::kFakeQuant;
  export_hf_checkpoint(m, (root / "fq").string(), opt);
  const Checkpoint fq = Checkpoint::open((root / "fq").string());
  const TensorView& q = fq.tensor("model.layers.0.mlp.down_proj.weight");
  const TensorView& l = run.tensor("model.layers.0.mlp.down_proj.weight");
  EXPECT_NE(std::memcmp(q.data, l.data, q.nbytes), 0);
  fs::remove_all(root);
}

TEST(HfExportWeights, AHeadQuantizedUnlikeItsTiedEmbeddingIsWrittenUntied) {
  const fs::path root = temp_path("untie");
  Gemma4Model m = load_model(test::fixture_dir("dense_ple"));
  ASSERT_TRUE(m->config().tie_word_embeddings);
  const Recipe r = Recipe::parse(R"({"name": "head-q8", "weights": [{"targets": ["Linear", "Embedding"], "scheme": "q4_0"},
      {"targets": ["lm_head"], "scheme": "q8_0"}], "ignore": ["per_layer_model_projection"]})", "head-q8.json");
  const ResolvedRecipe rr = resolve_recipe(r, gemma4_quant_targets(m->config()));
  quantize_model(m, rr);
  HfSaveOptions opt;
  opt.weights = HfWeights::kFakeQuant;
  export_hf_checkpoint(m, (root / "hf").string(), opt);
  const Gemma4Config out = Gemma4Config::load((root / "hf").string());
  EXPECT_FALSE(out.tie_word_embeddings);
  std::map<std::string, at::Tensor> want = expected_weights(m, rr.float_dtype);
  {
    at::NoGradGuard ng;
    want["lm_head.weight"] = m->head_weight();
  }
  EXPECT_FALSE(at::equal(want.at("lm_head.weight"), want.at("embed_tokens.weight")));
  expect_file_holds((root / "hf").string(), want, out);
  // Loaded back, the untied checkpoint computes what the quantized model computed.
  Gemma4Model back = load_model((root / "hf").string());
  const at::Tensor ids = torch::tensor({{2, 17, 40, 99, 7}}, at::kLong);
  at::NoGradGuard ng;
  EXPECT_LT(test::max_abs_diff(back->forward(ids).logits, m->forward(ids).logits), 1e-5);
  fs::remove_all(root);
}

}  // namespace
}  // namespace gq
