// compressed-tensors exports of plain checkpoints under a recipe (the recipe's RTN rule): every
// written module decodes bit for bit to the codecs' fake quant, floats are the source rounded,
// config.json's quantization_config field by field, W8A8 input and KV cache scales from a
// calibration, shards with their index, mixed formats, and the multimodal input layout.
#include "export/compressed_tensors.h"
#include "export/compressed_tensors_items.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "io/half.h"
#include "model/gemma4_config.h"
#include "quant/weight.h"
#include "recipes/calibration.h"
#include "tests/common/test_util.h"
#include "tests/export/ct_reader.h"
#include "tests/export/ct_runs.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using namespace ct_test;

// The recipe names bf16: floats and scales in bf16 from the float32 fixture.
TEST(CompressedTensors, W4a16G32DensePleBf16) {
  TempDir d;
  const std::string out = d.file("out");
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("dense_ple"), out, quiet([] {
                                                       CompressedTensorsExportOptions o;
                                                       o.recipe = Recipe::load("w4a16-g32");
                                                       o.recipe->unquantized_dtype = "bf16";
                                                       return o;
                                                     }()));
  EXPECT_FALSE(r.from_run);
  EXPECT_EQ(r.format, "pack-quantized");
  EXPECT_EQ(r.scale_dtype, DType::BF16);
  EXPECT_EQ(r.shards, 1u);
  const Tensors src = load_all(fixture("dense_ple"));
  // 6 layers x (q, o, gate, up, down, PLE gate, PLE projection) + k, v on the 3 own-KV layers + PLE model projection
  expect_packed_equals_fake_quant(out, src, quant::parse_weight_scheme("int4_g32@bf16"), 6 * 7 + 3 * 2 + 1);
  expect_floats(out, src, DType::BF16);
  expect_contiguous(fs::path(out) / "model.safetensors");
  EXPECT_EQ(r.unused_skipped, 0u);

  const Checkpoint ck = Checkpoint::open(out);
  EXPECT_FALSE(ck.has("model.layers.3.self_attn.k_proj.weight_packed"));  // KV-shared: not stored
  EXPECT_EQ(ck.tensor("model.layers.0.self_attn.q_proj.weight_scale").shape, (std::vector<int64_t>{128, 4}));
  EXPECT_EQ(ck.tensor("model.layers.0.per_layer_projection.weight_packed").shape, (std::vector<int64_t>{128, 4}));
  EXPECT_EQ(ck.tensor("model.embed_tokens.weight").dtype, DType::BF16);

  const json cfg = config_of(out);
  EXPECT_EQ(cfg["architectures"], json::array({"Gemma4ForCausalLM"}));
  EXPECT_EQ(cfg["dtype"], "bfloat16");
  const json& q = cfg["quantization_config"];
  EXPECT_EQ(q["quant_method"], "compressed-tensors");
  EXPECT_EQ(q["format"], "pack-quantized");
  EXPECT_EQ(q["quantization_status"], "compressed");
  EXPECT_TRUE(q["kv_cache_scheme"].is_null());
  EXPECT_TRUE(q["version"].is_string());
  ASSERT_EQ(q["config_groups"].size(), 1u);
  const json& g = q["config_groups"]["group_0"];
  EXPECT_FALSE(g.contains("format"));  // one format: top-level only
  EXPECT_TRUE(g["input_activations"].is_null());
  EXPECT_TRUE(g["output_activations"].is_null());
  const json& wa = g["weights"];
  EXPECT_TRUE(wa["num_bits"].is_number_integer());
  EXPECT_EQ(wa["num_bits"], 4);
  EXPECT_EQ(wa["type"], "int");
  EXPECT_EQ(wa["symmetric"], true);
  EXPECT_EQ(wa["strategy"], "group");
  EXPECT_TRUE(wa["group_size"].is_number_integer());
  EXPECT_EQ(wa["group_size"], 32);
  EXPECT_EQ(wa["dynamic"], false);
  EXPECT_TRUE(wa["actorder"].is_null());
  // Targets: every stored module, plus k/v of the KV-shared layers (vLLM fuses them with q_proj).
  const std::set<std::string> targets = strings(g["targets"]);
  for (const std::string& m : modules_with(ck, ".weight_packed")) EXPECT_TRUE(targets.count(m)) << m;
  for (int l = 3; l < 6; ++l) {
    EXPECT_TRUE(targets.count("model.layers." + std::to_string(l) + ".self_attn.k_proj")) << l;
    EXPECT_TRUE(targets.count("model.layers." + std::to_string(l) + ".self_attn.v_proj")) << l;
  }
  EXPECT_EQ(targets.size(), 6u * 7 + 6 * 2 + 1);
  EXPECT_EQ(strings(q["ignore"]), (std::set<std::string>{"lm_head"}));
  // What the config reader makes of it.
  const Gemma4Config back = Gemma4Config::load(out);
  EXPECT_EQ(back.num_hidden_layers, 6);
  EXPECT_EQ(back.num_kv_shared_layers, 3);
}

TEST(CompressedTensors, W4a16G32MoeExpertsPerExpert) {
  TempDir d;
  const std::string out = d.file("out");
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g32");
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("moe_keqv"), out, quiet(o));
  const Tensors src = load_all(fixture("moe_keqv"));
  // 4 layers x (q, k, o, gate, up, down) + v on 2 sliding layers + 4 layers x 8 experts x 3
  expect_packed_equals_fake_quant(out, src, quant::parse_weight_scheme("int4_g32"), 4 * 6 + 2 + 4 * 8 * 3);
  EXPECT_EQ(r.modules_by_scheme.at("int4_g32"), size_t(4 * 6 + 2 + 4 * 8 * 3));
  const Checkpoint ck = Checkpoint::open(out);
  EXPECT_EQ(ck.tensor("model.layers.0.experts.7.up_proj.weight_packed").shape, (std::vector<int64_t>{64, 16}));
  EXPECT_EQ(ck.tensor("model.layers.0.experts.7.down_proj.weight_scale").shape, (std::vector<int64_t>{128, 2}));
  EXPECT_FALSE(ck.has("model.layers.0.experts.gate_up_proj"));
  EXPECT_EQ(ck.tensor("model.layers.0.router.proj.weight").dtype, DType::F32);  // the checkpoint's float dtype
  EXPECT_FALSE(ck.has("model.layers.1.self_attn.v_proj.weight_packed"));  // K=V: vLLM copies k_proj
  const json q = config_of(out)["quantization_config"];
  const std::set<std::string> targets = strings(q["config_groups"]["group_0"]["targets"]);
  EXPECT_TRUE(targets.count("model.layers.1.self_attn.v_proj"));  // so that vLLM's fused q/k/v matches
  EXPECT_TRUE(targets.count("re:model\\.layers\\.2\\.(moe\\.)?experts\\.\\d+\\.(gate|up|down)_proj$"));
  const std::set<std::string> ignore = strings(q["ignore"]);
  EXPECT_TRUE(ignore.count("model.layers.3.router.proj"));
  EXPECT_TRUE(ignore.count("lm_head"));
}

TEST(CompressedTensors, W4a16G128F32ScalesAreBitExact) {
  TempDir d;
  const std::string out = d.file("out");
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g128");
  o.scale_dtype = DType::F32;
  export_compressed_tensors(fixture("dense_keqv"), out, quiet(o));
  const Tensors src = load_all(fixture("dense_keqv"));
  // 6 layers x (q, k, o, gate, up, down) + v on the 4 sliding layers; every width divides by 128
  expect_packed_equals_fake_quant(out, src, quant::parse_weight_scheme("int4_g128"), 6 * 6 + 4);
  const json wa = config_of(out)["quantization_config"]["config_groups"]["group_0"]["weights"];
  EXPECT_EQ(wa["group_size"], 128);
  const Checkpoint ck = Checkpoint::open(out);
  EXPECT_EQ(ck.tensor("model.layers.0.mlp.down_proj.weight_scale").dtype, DType::F32);
  EXPECT_EQ(ck.tensor("model.layers.0.mlp.down_proj.weight_scale").shape, (std::vector<int64_t>{128, 2}));
}

TEST(CompressedTensors, ChannelWiseWeights) {
  TempDir d;
  const std::string out = d.file("out");
  export_compressed_tensors(fixture("dense_keqv"), out,
                            with_recipe(R"({"weights": [{"targets": ["Linear"], "scheme": "int4_channel"}]})"));
  const Tensors src = load_all(fixture("dense_keqv"));
  expect_packed_equals_fake_quant(out, src, quant::parse_weight_scheme("int4_channel"), 6 * 6 + 4);
  const Checkpoint ck = Checkpoint::open(out);
  EXPECT_EQ(ck.tensor("model.layers.0.self_attn.o_proj.weight_scale").shape, (std::vector<int64_t>{128, 1}));
  const json wa = config_of(out)["quantization_config"]["config_groups"]["group_0"]["weights"];
  EXPECT_EQ(wa["strategy"], "channel");
  EXPECT_TRUE(wa["group_size"].is_null());
}

TEST(CompressedTensors, W8a8StaticInputScales) {
  TempDir d;
  const std::string out = d.file("out");
  const Gemma4Config cfg = Gemma4Config::load(fixture("dense_keqv"));
  const Calibration cal = w8a8_calibration(cfg);
  cal.save(d.file("calib.json"));
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w8a8-static");
  o.calibration = d.file("calib.json");
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("dense_keqv"), out, quiet(o));
  EXPECT_EQ(r.format, "int-quantized");
  const Tensors src = load_all(fixture("dense_keqv"));
  const Checkpoint ck = Checkpoint::open(out);
  const std::vector<std::string> mods = modules_with(ck, ".input_scale");
  EXPECT_EQ(mods.size(), size_t(6 * 6 + 4));
  const quant::WeightScheme scheme = quant::parse_weight_scheme("int8_channel");
  for (const std::string& m : mods) {
    const Source s = source_of(src, m);
    const Decoded dw = decode_int8(ck, m);
    const std::vector<float> x = rows_of(src, s.tensor, s.row0, s.rows, s.cols);
    std::vector<float> y(x.size());
    quant::fake_quant_weight(scheme, x.data(), y.data(), s.rows, s.cols);
    expect_bits_equal(dequant(dw), y, m);
    const TensorView& is = ck.tensor(m + ".input_scale");
    EXPECT_EQ(is.dtype, DType::F32);
    EXPECT_EQ(is.shape, (std::vector<int64_t>{1}));
    EXPECT_EQ(float_bits(is.to_f32()[0]), float_bits(cal.activations.at(s.module).scale)) << m;
    EXPECT_FALSE(ck.has(m + ".input_zero_point"));
  }
  const json g = config_of(out)["quantization_config"]["config_groups"]["group_0"];
  EXPECT_EQ(g["weights"]["num_bits"], 8);
  EXPECT_EQ(g["weights"]["strategy"], "channel");
  EXPECT_EQ(g["input_activations"]["num_bits"], 8);
  EXPECT_EQ(g["input_activations"]["strategy"], "tensor");
  EXPECT_EQ(g["input_activations"]["symmetric"], true);
  EXPECT_EQ(g["input_activations"]["dynamic"], false);
  expect_contiguous(fs::path(out) / "model.safetensors");
}

TEST(CompressedTensors, KvCacheScalesFromCalibration) {
  TempDir d;
  const std::string out = d.file("out");
  Calibration c;
  for (int l = 0; l < 3; ++l)  // dense_ple: layers 3..5 share the K/V of layers 1 (sliding) and 2 (full)
    c.kv_cache["layers." + std::to_string(l) + ".self_attn"] = {-2.0f - l, 1.5f, -0.5f, 3.0f + l};
  c.save(d.file("calib.json"));
  std::vector<std::string> warnings;
  CompressedTensorsExportOptions o = with_recipe(R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "kv_cache": "kv_int8"})");
  o.calibration = d.file("calib.json");
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  export_compressed_tensors(fixture("dense_ple"), out, o);
  const Checkpoint ck = Checkpoint::open(out);
  const Gemma4Config cfg = Gemma4Config::load(fixture("dense_ple"));
  for (int l = 0; l < 6; ++l) {
    const int src = cfg.kv_donor[size_t(l)] >= 0 ? cfg.kv_donor[size_t(l)] : l;
    const KvCalibration& k = c.kv_cache.at("layers." + std::to_string(src) + ".self_attn");
    const std::string p = "model.layers." + std::to_string(l) + ".self_attn.";
    EXPECT_EQ(ck.tensor(p + "k_scale").dtype, DType::F32);
    EXPECT_EQ(ck.tensor(p + "k_scale").shape, (std::vector<int64_t>{1}));
    EXPECT_EQ(ck.tensor(p + "k_scale").to_f32()[0], std::max(std::fabs(k.k_min), std::fabs(k.k_max)) / 127.0f) << l;
    EXPECT_EQ(ck.tensor(p + "v_scale").to_f32()[0], std::max(std::fabs(k.v_min), std::fabs(k.v_max)) / 127.0f) << l;
  }
  const json kv = config_of(out)["quantization_config"]["kv_cache_scheme"];
  EXPECT_EQ(kv["num_bits"], 8);
  EXPECT_EQ(kv["type"], "int");
  EXPECT_EQ(kv["strategy"], "tensor");
  EXPECT_EQ(kv["symmetric"], true);
  EXPECT_EQ(kv["dynamic"], false);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("per-tensor"), std::string::npos) << warnings[0];
}

TEST(CompressedTensors, ShardsWithIndex) {
  TempDir d;
  const std::string out = d.file("out");
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g32");
  o.max_shard_bytes = 100 * 1000;
  o.chunk_bytes = 4096;  // many chunks per tensor as well
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("dense_ple"), out, quiet(o));
  EXPECT_GT(r.shards, 2u);
  const json index = json::parse(read_file(out + "/model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"], r.bytes);
  EXPECT_EQ(index["weight_map"].size(), r.tensors);
  std::set<std::string> files;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) files.insert(it.value());
  EXPECT_EQ(files.size(), r.shards);
  for (const std::string& f : files) {
    const auto [count, bytes] = expect_contiguous(fs::path(out) / f);
    if (count > 1) {
      EXPECT_LE(bytes, 100u * 1000) << f;  // only a lone tensor may exceed the limit
    }
  }
  EXPECT_FALSE(fs::exists(out + "/model.safetensors"));
  // The same values as one file.
  expect_packed_equals_fake_quant(out, load_all(fixture("dense_ple")), quant::parse_weight_scheme("int4_g32"), 49);
}

TEST(CompressedTensors, MixedFormatsGetPerGroupFormats) {
  TempDir d;
  const Gemma4Config cfg = Gemma4Config::load(fixture("dense_keqv"));
  Calibration cal = w8a8_calibration(cfg);
  for (auto it = cal.activations.begin(); it != cal.activations.end();)
    it = it->first.find(".mlp.") != std::string::npos ? cal.activations.erase(it) : std::next(it);
  cal.save(d.file("calib.json"));
  CompressedTensorsExportOptions o = with_recipe(R"({"weights": [{"targets": ["Linear"], "scheme": "int8_channel"},
                                                  {"targets": ["re:.*\\.mlp\\..*"], "scheme": "int4_g32_asym"}],
                                      "input_activations": [{"targets": ["re:.*self_attn.*"], "scheme": "int8_sym"}]})");
  o.calibration = d.file("calib.json");
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("dense_keqv"), d.file("out"), o);
  EXPECT_EQ(r.format, "mixed-precision");
  const json q = config_of(d.file("out"))["quantization_config"];
  ASSERT_EQ(q["config_groups"].size(), 2u);
  EXPECT_EQ(q["config_groups"]["group_0"]["format"], "int-quantized");
  EXPECT_EQ(q["config_groups"]["group_1"]["format"], "pack-quantized");
  EXPECT_EQ(q["config_groups"]["group_1"]["weights"]["symmetric"], false);
  EXPECT_TRUE(q["config_groups"]["group_1"]["input_activations"].is_null());
  const Checkpoint ck = Checkpoint::open(d.file("out"));
  EXPECT_EQ(modules_with(ck, ".input_scale").size(), size_t(6 * 3 + 4));
  EXPECT_EQ(modules_with(ck, ".weight_zero_point").size(), size_t(6 * 3));
  const Tensors src = load_all(fixture("dense_keqv"));
  expect_packed_equals_fake_quant(d.file("out"), src, quant::parse_weight_scheme("int4_g32_asym"), 6 * 3);
}

// The multimodal layout (prefix model.language_model., bf16, 29 shards) exports as the text model;
// k/v tensors that KV-shared layers carry in official checkpoints are not written.
TEST(CompressedTensors, InputLayouts) {
  TempDir d;
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g32");
  const CompressedTensorsExportResult r = export_compressed_tensors(fixture("dense_ple_mm_bf16"), d.file("out"), quiet(o));
  Tensors src;
  for (auto& [n, v] : load_all(fixture("dense_ple_mm_bf16"))) {
    const std::string mm = "model.language_model.";
    src[n.rfind(mm, 0) == 0 ? "model." + n.substr(mm.size()) : n] = v;
  }
  expect_packed_equals_fake_quant(d.file("out"), src, quant::parse_weight_scheme("int4_g32@bf16"), 49);
  expect_floats(d.file("out"), src, DType::BF16);
  EXPECT_EQ(config_of(d.file("out"))["architectures"], json::array({"Gemma4ForCausalLM"}));
  EXPECT_EQ(r.other_towers_skipped, 0u);

  Tensors w = load_all(fixture("dense_ple"));
  w["model.layers.4.self_attn.k_proj.weight"] = {{64, 128}, std::vector<float>(64 * 128, 0.5f)};
  const fs::path m = d.path() / "model";
  fs::create_directories(m);
  fs::copy_file(fixture("dense_ple") + "/config.json", m / "config.json");
  save_all((m / "model.safetensors").string(), w);
  const CompressedTensorsExportResult r2 = export_compressed_tensors(m.string(), d.file("out2"), quiet(o));
  EXPECT_EQ(r2.unused_skipped, 1u);
  EXPECT_FALSE(Checkpoint::open(d.file("out2")).has("model.layers.4.self_attn.k_proj.weight_packed"));
}

}  // namespace
}  // namespace gq
