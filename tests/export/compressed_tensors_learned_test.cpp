// compressed-tensors exports of QAT runs: the integers the fake-quant model trained (learned scales
// and zero points) are the ones written, and scale storage that would change them is refused.
#include "export/compressed_tensors.h"

#include <gtest/gtest.h>

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

TEST(CompressedTensors, LearnedF32ScalesNeedF32Storage) {
  TempDir d;
  const quant::WeightScheme scheme = quant::parse_weight_scheme("int4_g32");
  const Tensors w = load_all(fixture("dense_keqv"));
  const Tensors qp = learned_params(w, Gemma4Config::load(fixture("dense_keqv")), scheme, 11);
  const std::string run =
      make_run(d, "dense_keqv", w, R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "learnable_scales": true})", qp);
  const std::string msg = refusal(run, d.file("out"), quiet());
  EXPECT_NE(msg.find("module 'layers.0.self_attn.q_proj'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--scale-dtype f32"), std::string::npos) << msg;
  EXPECT_NE(msg.find("int4_g32@bf16"), std::string::npos) << msg;
  expect_nothing_written(d);

  export_compressed_tensors(run, d.file("out"), f32_scales());
  expect_learned_export(d.file("out"), w, qp, scheme);  // bit for bit with f32 scales
}

// An RTN-trained run (no learned scales) keeps the RTN integers of its own scheme; bf16 storage of
// f32 RTN scales would change the weights: refused during the stream, nothing left behind.
TEST(CompressedTensors, RtnRunWithF32ScalesIsRefusedInBf16) {
  TempDir d;
  const Tensors w = load_all(fixture("dense_keqv"));
  const std::string run = make_run(d, "dense_keqv", w, R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}]})", {});
  const std::string msg = refusal(run, d.file("out"), quiet());
  EXPECT_NE(msg.find("module 'layers.0.self_attn.q_proj' was trained with f32 scales"), std::string::npos) << msg;
  EXPECT_NE(msg.find("changes its dequantized weights"), std::string::npos) << msg;
  expect_nothing_written(d);
  export_compressed_tensors(run, d.file("out"), f32_scales());
  expect_packed_equals_fake_quant(d.file("out"), w, quant::parse_weight_scheme("int4_g32"), 6 * 6 + 4);
}

TEST(CompressedTensors, RunRecipeOverrideIsRtnWithAWarning) {
  TempDir d;
  const quant::WeightScheme scheme = quant::parse_weight_scheme("int4_g32@bf16");
  const Tensors w = load_all(fixture("dense_keqv"));
  const Tensors qp = learned_params(w, Gemma4Config::load(fixture("dense_keqv")), scheme, 3);
  const std::string run = make_run(
      d, "dense_keqv", w, R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32@bf16"}], "learnable_scales": true})", qp);
  std::vector<std::string> warnings;
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g32");
  o.threads = 1;
  o.on_warning = [&](const std::string& s) { warnings.push_back(s); };
  const CompressedTensorsExportResult r = export_compressed_tensors(run, d.file("out"), o);
  EXPECT_FALSE(r.from_run);
  EXPECT_EQ(r.learned_modules, 0u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("learned scales are not used"), std::string::npos) << warnings[0];
  expect_packed_equals_fake_quant(d.file("out"), w, scheme, 6 * 6 + 4);
}

}  // namespace
}  // namespace gq
