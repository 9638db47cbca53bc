// The GGUF exporter writes the deployment contract: the recipe's float dtype on every unquantized
// weight (F32 tensors hold its values), an ignored head of a tied model as a float output.weight,
// a QAT run's own recipe and learned scales by default, and flags that change them refused unless
// allowed.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "export/gemma4_gguf.h"
#include "tests/common/test_util.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "io/error.h"
#include "io/half.h"
#include "quant/q4_0.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::string fixture(const std::string& name) { return std::string(GQ_TEST_DATA) + "/gemma4-tiny/" + name; }

GgufExportOptions quiet(GgufExportOptions o = {}) {
  o.on_warning = [](const std::string&) {};
  o.threads = 2;
  return o;
}

using test::error_of;

std::vector<float> data_of(const GgufFile& f, const std::string& name) {
  const GgufTensorInfo& t = f.tensor(name);
  std::vector<float> v(size_t(t.numel()));
  const uint8_t* p = f.tensor_data(t);
  for (size_t i = 0; i < v.size(); ++i) {
    uint16_t h;
    switch (t.type) {
      case GgmlType::F32: std::memcpy(&v[i], p + 4 * i, 4); break;
      case GgmlType::F16: std::memcpy(&h, p + 2 * i, 2), v[i] = f16_to_f32(h); break;
      case GgmlType::BF16: std::memcpy(&h, p + 2 * i, 2), v[i] = bf16_to_f32(h); break;
      default: ADD_FAILURE() << name << " is not a float tensor";
    }
  }
  return v;
}

std::vector<float> rounded(std::vector<float> v, DType t) {
  for (float& x : v) x = t == DType::F16 ? f16_to_f32(f32_to_f16(x)) : t == DType::BF16 ? bf16_to_f32(f32_to_bf16(x)) : x;
  return v;
}

void expect_bits(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(float_bits(got[i]), float_bits(want[i])) << what << " element " << i;
}

Recipe recipe(const std::string& json) { return Recipe::parse(json, "test-recipe.json"); }

// q4_0 names f16 floats: the PLE model projection is F16, the norms F32 tensors of f16 values.
TEST(GgufContract, F32TensorsHoldTheFloatDtypesValues) {
  TempDir d;
  GgufExportOptions o;
  o.recipe = Recipe::load("q4_0");
  export_gemma4_gguf(fixture("dense_ple"), d.file("m.gguf"), quiet(o));
  const GgufFile f = GgufFile::open(d.file("m.gguf"));
  const Checkpoint ck = Checkpoint::open(fixture("dense_ple"));
  EXPECT_EQ(f.tensor("per_layer_model_proj.weight").type, GgmlType::F16);
  for (const auto& [g, h] : std::vector<std::pair<std::string, std::string>>{
           {"output_norm.weight", "model.norm.weight"}, {"blk.2.attn_k_norm.weight", "model.layers.2.self_attn.k_norm.weight"},
           {"blk.4.layer_output_scale.weight", "model.layers.4.layer_scalar"}}) {
    EXPECT_EQ(f.tensor(g).type, GgmlType::F32) << g;
    const std::vector<float> src = ck.tensor(h).to_f32();
    expect_bits(data_of(f, g), rounded(src, DType::F16), g);
    EXPECT_NE(data_of(f, g), src) << g << ": not rounded";  // the fixture's norms are not f16 values
  }
}

// "auto" on a float32 checkpoint: every float tensor as stored, the PLE projection F32 too.
TEST(GgufContract, AutoFloatsAreTheCheckpointsDtype) {
  TempDir d;
  GgufExportOptions o;
  o.recipe = recipe(R"({"weights": [{"targets": ["Linear", "Embedding"], "scheme": "q4_0"}],
                        "ignore": ["per_layer_model_projection"]})");
  export_gemma4_gguf(fixture("dense_ple"), d.file("m.gguf"), quiet(o));
  const GgufFile f = GgufFile::open(d.file("m.gguf"));
  const Checkpoint ck = Checkpoint::open(fixture("dense_ple"));
  EXPECT_EQ(f.tensor("per_layer_model_proj.weight").type, GgmlType::F32);
  expect_bits(data_of(f, "per_layer_model_proj.weight"), ck.tensor("model.per_layer_model_projection.weight").to_f32(),
              "per_layer_model_proj");
  expect_bits(data_of(f, "output_norm.weight"), ck.tensor("model.norm.weight").to_f32(), "output_norm");
}

// An ignored head of a tied model: the table quantized, the head a float copy in the float dtype.
TEST(GgufContract, IgnoredHeadIsAFloatOutputWeight) {
  for (const auto& [fix, dtype] : std::vector<std::pair<std::string, DType>>{{"dense_ple", DType::F32},
                                                                              {"dense_ple_mm_bf16", DType::BF16}}) {
    TempDir d;
    GgufExportOptions o;
    o.recipe = recipe(R"({"weights": [{"targets": ["Linear", "Embedding"], "scheme": "q4_0"}],
                          "ignore": ["lm_head", "per_layer_model_projection"]})");
    export_gemma4_gguf(fixture(fix), d.file("m.gguf"), quiet(o));
    const GgufFile f = GgufFile::open(d.file("m.gguf"));
    EXPECT_EQ(f.tensor("token_embd.weight").type, GgmlType::Q4_0) << fix;
    const GgufTensorInfo& head = f.tensor("output.weight");
    EXPECT_EQ(head.type, dtype == DType::F32 ? GgmlType::F32 : GgmlType::BF16) << fix;
    EXPECT_EQ(head.ne, (std::vector<int64_t>{128, 512}));
    const Checkpoint ck = Checkpoint::open(fixture(fix));
    const std::string table = ck.has("model.embed_tokens.weight") ? "model.embed_tokens.weight"
                                                                  : "model.language_model.embed_tokens.weight";
    expect_bits(data_of(f, "output.weight"), ck.tensor(table).to_f32(), fix + " output.weight");
  }
}

// --dtype on a plain checkpoint leaves the recipe's float dtype: refused, or written when allowed.
TEST(GgufContract, FloatDtypeOverrideIsRefusedUnlessAllowed) {
  TempDir d;
  GgufExportOptions o = quiet();
  o.recipe = Recipe::load("q4_0");
  o.float_dtype = DType::BF16;
  const std::string msg = error_of([&] { export_gemma4_gguf(fixture("dense_ple"), d.file("m.gguf"), o); });
  EXPECT_NE(msg.find("float tensors (embed_tokens.weight, the norms, every unquantized weight) are f16 as recipe 'q4_0' states"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("--dtype bf16"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"unquantized_dtype\": \"bf16\""), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(d.file("m.gguf")));
  o.allow_rounding = true;
  std::vector<std::string> warnings;
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  export_gemma4_gguf(fixture("dense_ple"), d.file("m.gguf"), o);
  EXPECT_EQ(GgufFile::open(d.file("m.gguf")).tensor("per_layer_model_proj.weight").type, GgmlType::BF16);
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings[0].find("--allow-rounding"), std::string::npos) << warnings[0];
}

// RUN/checkpoint from the float32 fixture with a q4_0 recipe ("auto" floats: float32) and learned
// scales for one module.
struct TestRun {
  std::string dir;
  std::vector<float> scales;  // layers.0.mlp.down_proj [128, 256 / 32]
};

TestRun make_run(const TempDir& d) {
  const fs::path ck = d.path() / "run" / "checkpoint";
  fs::create_directories(ck);
  fs::copy_file(fixture("dense_keqv") + "/config.json", ck / "config.json");
  fs::create_symlink(fs::absolute(fixture("dense_keqv") + "/model.safetensors"), ck / "model.safetensors");
  std::ofstream(ck / "recipe.json") << R"({"name": "q4_0-auto", "weights": [{"targets": ["Linear", "Embedding"], "scheme": "q4_0"}],
                                          "learnable_scales": true})";
  const std::vector<float> x = Checkpoint::open(fixture("dense_keqv")).tensor("model.layers.0.mlp.down_proj.weight").to_f32();
  TestRun r{(d.path() / "run").string(), std::vector<float>(128 * 8)};
  quant::q4_0_rtn_scales(x.data(), r.scales.data(), 128, 256);
  for (float& v : r.scales) v *= 0.9f;  // clipping: codes RTN would not give
  write_safetensors((ck / "quant_params.safetensors").string(),
                    {{"layers.0.mlp.down_proj.weight.scale", DType::F32, {128, 8}, r.scales.data(), r.scales.size() * 4}});
  return r;
}

TEST(GgufContract, RunExportsItsOwnRecipeAndLearnedScales) {
  TempDir d;
  const TestRun run = make_run(d);
  const GgufExportResult r = export_gemma4_gguf(run.dir, d.file("m.gguf"), quiet());
  EXPECT_TRUE(r.from_run);
  EXPECT_EQ(r.recipe, "q4_0-auto");
  EXPECT_EQ(r.learned_available, 1u);
  EXPECT_EQ(r.learned_modules, 1u);
  const GgufFile f = GgufFile::open(d.file("m.gguf"));
  const Checkpoint ck = Checkpoint::open(fixture("dense_keqv"));
  const std::vector<float> x = ck.tensor("model.layers.0.mlp.down_proj.weight").to_f32();
  std::vector<int8_t> lv(x.size());
  std::vector<uint8_t> want(size_t(128) * ggml_row_bytes(GgmlType::Q4_0, 256));
  quant::q4_0_encode(x.data(), run.scales.data(), lv.data(), 128, 256);
  quant::q4_0_pack(lv.data(), run.scales.data(), want.data(), 128, 256);
  EXPECT_EQ(std::memcmp(f.tensor_data(f.tensor("blk.0.ffn_down.weight")), want.data(), want.size()), 0);
  // The run's float tensors (float32) are written bit for bit.
  expect_bits(data_of(f, "output_norm.weight"), ck.tensor("model.norm.weight").to_f32(), "output_norm");
  expect_bits(data_of(f, "blk.1.attn_q_norm.weight"), ck.tensor("model.layers.1.self_attn.q_norm.weight").to_f32(), "q_norm");
}

// --type on a run is another recipe: refused naming the module and the learned scales it drops.
TEST(GgufContract, TypeOnARunIsRefusedUnlessAllowed) {
  TempDir d;
  const TestRun run = make_run(d);
  GgufExportOptions o = quiet();
  o.type = GgmlType::Q8_0;
  const std::string msg = error_of([&] { export_gemma4_gguf(run.dir, d.file("m.gguf"), o); });
  EXPECT_NE(msg.find("module 'embed_tokens': the run trained q4_0, --type q8_0 writes q8_0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("learned scales"), std::string::npos) << msg;
  EXPECT_NE(msg.find("export without --type q8_0"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(d.file("m.gguf")));

  o.allow_rounding = true;
  std::vector<std::string> warnings;
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  const GgufExportResult r = export_gemma4_gguf(run.dir, d.file("m.gguf"), o);
  EXPECT_FALSE(r.from_run);
  EXPECT_EQ(r.learned_modules, 0u);
  EXPECT_EQ(GgufFile::open(d.file("m.gguf")).tensor("blk.0.ffn_down.weight").type, GgmlType::Q8_0);
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings[0].find("learned scales"), std::string::npos) << warnings[0];
}

}  // namespace
}  // namespace gq

namespace gq {
namespace {

// llama.cpp's KV cache is a run-time option: kv_q8_0 (its -ctk q8_0 blocks) exports with the exact
// flags to run it; kv_int8 (a float32 scale per token and head) has no llama.cpp twin and is
// refused, naming kv_q8_0, unless --nearest.
TEST(GgufContract, KvCacheSchemesAndLlamaCppFlags) {
  TempDir d;
  std::vector<std::string> warnings;
  GgufExportOptions o = quiet();
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  o.recipe = recipe(R"({"weights": [{"targets": ["Linear"], "scheme": "q4_0"}], "kv_cache": "kv_q8_0"})");
  export_gemma4_gguf(fixture("dense_keqv"), d.file("q8.gguf"), o);
  std::string all;
  for (const std::string& w : warnings) all += w + "\n";
  EXPECT_NE(all.find("kv_cache kv_q8_0 is a llama.cpp run-time option, not stored in the file: run llama.cpp with -ctk q8_0 -ctv q8_0"),
            std::string::npos) << all;
  o.recipe = recipe(R"({"weights": [{"targets": ["Linear"], "scheme": "q4_0"}], "kv_cache": "kv_int8"})");
  const std::string err = error_of([&] { export_gemma4_gguf(fixture("dense_keqv"), d.file("int8.gguf"), quiet(o)); });
  EXPECT_NE(err.find("kv_cache kv_int8 (one scale per token and head) has no llama.cpp cache type; train with kv_cache kv_q8_0"),
            std::string::npos) << err;
  EXPECT_FALSE(fs::exists(d.file("int8.gguf")));
}

}  // namespace
}  // namespace gq
