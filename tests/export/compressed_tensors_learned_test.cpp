// compressed-tensors exports of QAT runs: the integers and floats the fake-quant model trained
// (learned scales, zero points, float32 tensors) are the ones written by default; a flag that would
// change them is refused unless --allow-rounding, which says what it changed.
#include "export/compressed_tensors.h"
#include "export/compressed_tensors_items.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "model/gemma4_config.h"
#include "model/quant_targets.h"
#include "quant/weight.h"
#include "tests/common/test_util.h"
#include "tests/export/ct_reader.h"
#include "tests/export/ct_runs.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using namespace ct_test;

// Learned scales: RTN scales moved by up to 5%, so that they differ from anything RTN gives.
Tensors learned_params(const Tensors& w, const Gemma4Config& cfg, const quant::WeightScheme& scheme, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  Tensors qp;
  for (const QuantTarget& t : gemma4_quant_targets(cfg)) {
    if (t.kind != TargetKind::Linear) continue;
    const std::vector<float>& x = w.at("model." + t.tensor).second;
    const int64_t spr = quant::weight_scales_per_row(scheme, t.cols);
    std::vector<float> s(size_t(t.rows * spr));
    std::vector<int8_t> z(s.size());
    quant::rtn_weight_params(scheme, x.data(), s.data(), scheme.symmetric ? nullptr : z.data(), t.rows, t.cols);
    for (float& v : s) v *= 1.0f + u(rng);
    qp[t.name + ".weight.scale"] = {{t.rows, spr}, s};
    if (!scheme.symmetric) qp[t.name + ".weight.zero_point"] = {{t.rows, spr}, std::vector<float>(z.begin(), z.end())};
  }
  return qp;
}

void expect_learned_export(const std::string& out, const Tensors& w, const Tensors& qp, const quant::WeightScheme& scheme) {
  const Checkpoint ck = Checkpoint::open(out);
  const std::vector<std::string> mods = modules_with(ck, ".weight_packed");
  EXPECT_EQ(mods.size(), size_t(6 * 6 + 4));
  for (const std::string& m : mods) {
    const Source s = source_of(w, m);
    const std::vector<float> x = rows_of(w, s.tensor, 0, s.rows, s.cols);
    const std::vector<float>& sc = qp.at(s.module + ".weight.scale").second;
    std::vector<int8_t> zp;
    if (!scheme.symmetric)
      for (float v : qp.at(s.module + ".weight.zero_point").second) zp.push_back(int8_t(v));
    // The integers the fake-quant model used, and the floats it computed.
    const quant::QuantizedWeight q =
        quant::quantize_weight_with_scales(scheme, x.data(), sc.data(), zp.empty() ? nullptr : zp.data(), s.rows, s.cols);
    std::vector<float> y(x.size());
    quant::fake_quant_weight_with_scales(scheme, x.data(), sc.data(), zp.empty() ? nullptr : zp.data(), y.data(), s.rows, s.cols);
    const Decoded dd = decode_packed(ck, m);
    ASSERT_EQ(dd.levels.size(), q.levels.size()) << m;
    for (size_t i = 0; i < q.levels.size(); ++i) ASSERT_EQ(dd.levels[i], int(q.levels[i])) << m << " element " << i;
    for (size_t i = 0; i < zp.size(); ++i) ASSERT_EQ(dd.zero_points[i], int(zp[i])) << m;
    expect_bits_equal(dequant(dd), y, m);
  }
}

TEST(CompressedTensors, LearnedBf16ScalesKeepTheTrainedIntegers) {
  for (const std::string name : {"int4_g32@bf16", "int4_g32_asym@bf16"}) {
    TempDir d;
    const quant::WeightScheme scheme = quant::parse_weight_scheme(name);
    const Tensors w = load_all(fixture("dense_keqv"));
    const Tensors qp = learned_params(w, Gemma4Config::load(fixture("dense_keqv")), scheme, 7);
    const std::string run = make_run(
        d, "dense_keqv", w, R"({"weights": [{"targets": ["Linear"], "scheme": ")" + name + R"("}], "learnable_scales": true})", qp);
    const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), quiet());
    EXPECT_TRUE(r.from_run);
    EXPECT_EQ(r.learned_modules, size_t(6 * 6 + 4));
    EXPECT_EQ(r.scale_dtype, DType::BF16);
    expect_learned_export(d.file("out"), w, qp, scheme);
  }
}

// A run's float tensors are written as it holds them (float32), bit for bit.
void expect_run_floats(const std::string& out, const Tensors& w) {
  const Checkpoint ck = Checkpoint::open(out);
  for (const char* n : {"model.embed_tokens.weight", "model.norm.weight", "model.layers.0.input_layernorm.weight",
                        "model.layers.2.self_attn.k_norm.weight"}) {
    EXPECT_EQ(ck.tensor(n).dtype, DType::F32) << n;
    expect_bits_equal(ck.tensor(n).to_f32(), w.at(n).second, n);
  }
  EXPECT_EQ(config_of(out)["dtype"], "float32");
}

// A run trained in float32: its learned f32 scales are the contract, written as trained by
// default; --scale-dtype bf16 would round them and is refused naming the module.
TEST(CompressedTensors, LearnedF32ScalesAreWrittenAsTrained) {
  TempDir d;
  const quant::WeightScheme scheme = quant::parse_weight_scheme("int4_g32");
  const Tensors w = load_all(fixture("dense_keqv"));
  const Tensors qp = learned_params(w, Gemma4Config::load(fixture("dense_keqv")), scheme, 11);
  const std::string run =
      make_run(d, "dense_keqv", w, R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "learnable_scales": true})", qp);
  const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), quiet());
  EXPECT_TRUE(r.from_run);
  EXPECT_EQ(r.scale_dtype, DType::F32);
  EXPECT_EQ(r.model_dtype, DType::F32);
  expect_learned_export(d.file("out"), w, qp, scheme);  // bit for bit with f32 scales
  expect_run_floats(d.file("out"), w);
  fs::remove_all(d.file("out"));

  CompressedTensorsExportOptions o = quiet();
  o.scale_dtype = DType::BF16;
  const std::string msg = refusal(run, d.file("out"), o);
  EXPECT_NE(msg.find("module 'layers.0.self_attn.q_proj' stores its scales in f32"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--scale-dtype bf16"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train with int4_g32@bf16"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--allow-rounding"), std::string::npos) << msg;
  expect_nothing_written(d);

  // Allowed: written with bf16 scales, said in a warning that carries the caller's measurement.
  std::vector<std::string> warnings;
  o.allow_rounding = true;
  o.on_warning = [&](const std::string& s) { warnings.push_back(s); };
  o.rounding_effect = [](const Deployment& dep) {
    EXPECT_EQ(dep.contract.weights.at("layers.0.mlp.up_proj").scale_dtype, DType::F32);
    EXPECT_EQ(dep.deployed.weights.at("layers.0.mlp.up_proj").scale_dtype, DType::BF16);
    return std::string("measured max |Δlogit| 0.5");
  };
  const CompressedTensorsExportResult rb = export_compressed_tensors(run, d.file("out"), o);
  EXPECT_EQ(rb.scale_dtype, DType::BF16);
  EXPECT_EQ(rb.learned_modules, size_t(6 * 6 + 4));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("--allow-rounding"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("layers.0.self_attn.q_proj"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("measured max |Δlogit| 0.5"), std::string::npos) << warnings[0];
  expect_learned_export(d.file("out"), w, qp, quant::parse_weight_scheme("int4_g32@bf16"));
}

// An RTN-trained run (no learned scales) keeps the RTN integers of its own scheme, f32 scales
// included; --dtype bf16 would round its float tensors and is refused naming them.
TEST(CompressedTensors, RtnRunIsWrittenAsTrained) {
  TempDir d;
  const Tensors w = load_all(fixture("dense_keqv"));
  const std::string run = make_run(d, "dense_keqv", w, R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}]})", {});
  export_compressed_tensors(run, d.file("out"), quiet());
  expect_packed_equals_fake_quant(d.file("out"), w, quant::parse_weight_scheme("int4_g32"), 6 * 6 + 4);
  expect_run_floats(d.file("out"), w);
  fs::remove_all(d.file("out"));

  CompressedTensorsExportOptions o = quiet();
  o.float_dtype = DType::BF16;
  const std::string msg = refusal(run, d.file("out"), o);
  EXPECT_NE(msg.find("float tensors (embed_tokens.weight, the norms"), std::string::npos) << msg;
  EXPECT_NE(msg.find("are f32 in the run; --dtype bf16"), std::string::npos) << msg;
  expect_nothing_written(d);
  o.allow_rounding = true;
  const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), o);
  EXPECT_EQ(r.model_dtype, DType::BF16);
  EXPECT_EQ(r.scale_dtype, DType::F32);  // --dtype moves the float tensors only
  expect_floats(d.file("out"), w, DType::BF16);
}

// Another recipe on a run re-quantizes it with RTN: refused naming the module and the learned
// scales it drops; allowed, written so with a warning that says it.
TEST(CompressedTensors, RunRecipeOverrideIsRefusedUnlessAllowed) {
  TempDir d;
  const quant::WeightScheme scheme = quant::parse_weight_scheme("int4_g32@bf16");
  const Tensors w = load_all(fixture("dense_keqv"));
  const Tensors qp = learned_params(w, Gemma4Config::load(fixture("dense_keqv")), scheme, 3);
  const std::string run = make_run(
      d, "dense_keqv", w, R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32@bf16"}], "learnable_scales": true})", qp);
  CompressedTensorsExportOptions o = quiet();
  o.recipe = Recipe::load("w4a16-g128");
  const std::string msg = refusal(run, d.file("out"), o);
  EXPECT_NE(msg.find("module 'layers.0.self_attn.q_proj': the run trained int4_g32@bf16, --recipe writes int4_g128"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("learned scales (" + run + "/checkpoint/quant_params.safetensors) are not written"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("export without --recipe"), std::string::npos) << msg;
  expect_nothing_written(d);

  std::vector<std::string> warnings;
  o.allow_rounding = true;
  o.on_warning = [&](const std::string& s) { warnings.push_back(s); };
  const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), o);
  EXPECT_FALSE(r.from_run);
  EXPECT_EQ(r.learned_modules, 0u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("learned scales"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("are not written"), std::string::npos) << warnings[0];
  expect_packed_equals_fake_quant(d.file("out"), w, quant::parse_weight_scheme("int4_g128"), 6 * 6 + 4);
}

// The run's own recipe passed again is no change: the learned scales are kept.
TEST(CompressedTensors, RunsOwnRecipeIsNoChange) {
  TempDir d;
  const quant::WeightScheme scheme = quant::parse_weight_scheme("int4_g32");
  const Tensors w = load_all(fixture("dense_keqv"));
  const Tensors qp = learned_params(w, Gemma4Config::load(fixture("dense_keqv")), scheme, 5);
  const std::string recipe = R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "learnable_scales": true})";
  const std::string run = make_run(d, "dense_keqv", w, recipe, qp);
  const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), with_recipe(recipe));
  EXPECT_TRUE(r.from_run);
  EXPECT_TRUE(r.warnings.empty());
  expect_learned_export(d.file("out"), w, qp, scheme);
}

// A plain checkpoint: "auto" is the checkpoint's dtype, and flags that leave the recipe's
// numbers are refused as on a run.
TEST(CompressedTensors, PlainCheckpointFollowsTheRecipe) {
  TempDir d;
  CompressedTensorsExportOptions o = quiet();
  o.recipe = Recipe::load("w4a16-g32");
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("dense_keqv"), d.file("out"), o);
  EXPECT_EQ(r.scale_dtype, DType::F32);  // the float32 checkpoint's
  EXPECT_EQ(r.model_dtype, DType::F32);
  EXPECT_EQ(config_of(d.file("out"))["dtype"], "float32");
  fs::remove_all(d.file("out"));
  o.scale_dtype = DType::BF16;
  const std::string msg = refusal(fixture("dense_keqv"), d.file("out"), o);
  EXPECT_NE(msg.find("stores its scales in f32 (int4_g32@f32: recipe 'w4a16-g32'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("name the scale dtype in the recipe (int4_g32@bf16)"), std::string::npos) << msg;
  expect_nothing_written(d);
}

// An ignored head of a tied model with a quantized table is a float copy (the exporter refuses a
// quantized table itself, so the plan is checked directly): lm_head.weight from the table, and
// config.json unties it.
TEST(CompressedTensors, IgnoredHeadOfATiedModelIsAFloatCopy) {
  const Gemma4Config cfg = Gemma4Config::load(fixture("dense_keqv"));
  ResolvedRecipe rr = resolve_recipe(Recipe::parse(R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}]})", "r.json"),
                                     gemma4_quant_targets(cfg), DType::F32);
  EXPECT_FALSE(compressed_tensors::writes_untied_head(cfg, rr));
  rr.untie_head = true;  // what resolve_recipe gives for "ignore": ["lm_head"] beside a quantized table
  ASSERT_TRUE(compressed_tensors::writes_untied_head(cfg, rr));
  const compressed_tensors::QuantizationConfig qc = compressed_tensors::plan_quantization_config(cfg, rr, "r.json");
  compressed_tensors::Inputs in;
  const Checkpoint ck = Checkpoint::open(fixture("dense_keqv"));
  const compressed_tensors::ItemList list = compressed_tensors::list_items(cfg, ck, rr, qc, in);
  size_t heads = 0;
  for (const compressed_tensors::Item& it : list.items)
    if (it.name == "lm_head.weight") {
      ++heads;
      EXPECT_EQ(it.kind, compressed_tensors::ItemKind::Float);
      EXPECT_EQ(it.source, "model.embed_tokens.weight");
      EXPECT_EQ(it.shape, (std::vector<int64_t>{512, 128}));
    }
  EXPECT_EQ(heads, 1u);
}

}  // namespace
}  // namespace gq
