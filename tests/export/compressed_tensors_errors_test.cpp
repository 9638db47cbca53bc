// compressed-tensors refusals and bad input: recipes the format cannot hold, missing or
// inconsistent calibration, unreadable or non-finite weights, foreign output folders; nothing is
// left behind, and a re-export replaces the earlier one.
#include "export/compressed_tensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "model/gemma4_config.h"
#include "recipes/calibration.h"
#include "tests/common/test_util.h"
#include "tests/export/ct_reader.h"
#include "tests/export/ct_runs.h"

namespace gq {
namespace {

namespace fs = std::filesystem;
using namespace ct_test;

TEST(CompressedTensors, RecipesItCannotHoldAreRefused) {
  struct Case {
    std::string model, recipe, expect;
  };
  const std::vector<Case> cases = {
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "q4_0"}]})", "is a GGUF block type"},
      {"dense_keqv", "q4_0", "embed_tokens: scheme q4_0 is a GGUF block type"},
      {"dense_keqv", R"({"weights": [{"targets": ["Embedding"], "scheme": "int4_g32_asym"}]})",
       "embed_tokens: scheme int4_g32_asym: vLLM's int embedding reader"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int4_channel"}],
                         "output_activations": [{"targets": ["Linear"], "scheme": "int8_sym"}]})", "only together with static int8 inputs"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int4_channel"}], "unquantized_dtype": "bf16",
                         "input_activations": [{"targets": ["Linear"], "scheme": "int8_sym"}],
                         "output_activations": [{"targets": ["Linear"], "scheme": "int8_sym"}]})", "in the model dtype (bf16): use int8_sym@bf16"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int8_channel"}],
                         "input_activations": [{"targets": ["Linear"], "scheme": "int8_sym@bf16"}]})", "in float32: use int8_sym"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32_asym"}],
                         "input_activations": [{"targets": ["Linear"], "scheme": "int8_sym"}],
                         "output_activations": [{"targets": ["Linear"], "scheme": "int8_sym"}]})", "symmetric channel- or group-wise"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int8_channel"}],
                         "input_activations": [{"targets": ["Linear"], "scheme": "int8_asym"}]})", "input scheme int8_asym"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}],
                         "input_activations": [{"targets": ["Linear"], "scheme": "int8_sym"}]})", "only with int8 channel-wise"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "kv_cache": "kv_int4"})", "8-bit KV cache"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "kv_cache": "kv_q8_0"})",
       "kv_q8_0 is llama.cpp's cache (export it as gguf)"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"},
                                     {"targets": ["layers.0.self_attn.k_proj"], "scheme": "int4_g128"}]})", "must share a scheme"},
      {"dense_keqv", R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"}], "ignore": ["layers.2.mlp.up_proj"]})",
       "vLLM fuses gate/up"},
      {"moe_keqv", R"({"weights": [{"targets": ["Linear", "Experts"], "scheme": "int4_g32"},
                                   {"targets": ["re:.*experts\\.down_proj"], "scheme": "int8_channel"}]})", "one MoE kernel per layer"},
      {"moe_keqv", R"({"weights": [{"targets": ["Linear", "Router"], "scheme": "int4_g32"}]})", "router"},
  };
  for (const Case& c : cases) {
    TempDir d;
    CompressedTensorsExportOptions o;
    o.recipe = c.recipe[0] == '{' ? Recipe::parse(c.recipe, "test-recipe.json") : Recipe::load(c.recipe);
    const std::string msg = refusal(fixture(c.model), d.file("out"), quiet(o));
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.recipe << "\n" << msg;
    expect_nothing_written(d);
  }
}

TEST(CompressedTensors, W8a8NeedsCalibration) {
  TempDir d;
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w8a8-static");
  EXPECT_NE(refusal(fixture("dense_keqv"), d.file("out"), quiet(o)).find("no calibration.json"), std::string::npos);
  Calibration c = w8a8_calibration(Gemma4Config::load(fixture("dense_keqv")));
  c.activations.at("layers.2.self_attn.k_proj").scale *= 2;  // q/k/v no longer share one scale
  c.save(d.file("calib.json"));
  o.calibration = d.file("calib.json");
  EXPECT_NE(refusal(fixture("dense_keqv"), d.file("out"), quiet(o)).find("one input scale per fused matmul"), std::string::npos);
  c.activations.erase("layers.2.self_attn.k_proj");
  c.save(d.file("calib.json"));
  EXPECT_NE(refusal(fixture("dense_keqv"), d.file("out"), quiet(o)).find("activations.layers.2.self_attn.k_proj is missing"),
            std::string::npos);
  expect_nothing_written(d);
}

TEST(CompressedTensors, BadInputLeavesNoOutput) {
  TempDir d;
  // No such folder; a plain checkpoint without a recipe.
  EXPECT_NE(refusal(d.file("nope"), d.file("out"), quiet()).find("not a checkpoint folder"), std::string::npos);
  EXPECT_NE(refusal(fixture("dense_keqv"), d.file("out"), quiet()).find("needs a recipe"), std::string::npos);
  // A truncated weights file.
  const fs::path m = d.path() / "model";
  fs::create_directories(m);
  fs::copy_file(fixture("dense_keqv") + "/config.json", m / "config.json");
  const std::string bytes = read_file(fixture("dense_keqv") + "/model.safetensors");
  write_file((m / "model.safetensors").string(), bytes.substr(0, bytes.size() / 2));
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g32");
  EXPECT_NE(refusal(m.string(), d.file("out"), quiet(o)).find("model.safetensors"), std::string::npos);
  // A NaN in a weight: the codec refuses mid-stream, after earlier tensors were written.
  Tensors w = load_all(fixture("dense_keqv"));
  w.at("model.layers.5.mlp.down_proj.weight").second[77] = std::nanf("");
  save_all((m / "model.safetensors").string(), w);
  const std::string msg = refusal(m.string(), d.file("out"), quiet(o));
  EXPECT_NE(msg.find("model.layers.5.mlp.down_proj"), std::string::npos) << msg;
  // An existing folder that is not an export is left alone.
  fs::create_directories(d.path() / "out_mine");
  write_file(d.file("out_mine/notes.txt"), "keep");
  EXPECT_NE(refusal(fixture("dense_keqv"), d.file("out_mine"), quiet(o)).find("is not a compressed-tensors export"),
            std::string::npos);
  EXPECT_EQ(read_file(d.file("out_mine/notes.txt")), "keep");
  fs::remove_all(d.path() / "out_mine");
  expect_nothing_written(d);
}

TEST(CompressedTensors, ReExportReplacesAnEarlierExport) {
  TempDir d;
  CompressedTensorsExportOptions o;
  o.recipe = Recipe::load("w4a16-g32");
  export_compressed_tensors(fixture("dense_keqv"), d.file("out"), quiet(o));
  o.recipe = Recipe::load("w4a16-g128");
  export_compressed_tensors(fixture("dense_keqv"), d.file("out"), quiet(o));
  EXPECT_EQ(config_of(d.file("out"))["quantization_config"]["config_groups"]["group_0"]["weights"]["group_size"], 128);
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(d.path())) entries += e.path().filename().string().rfind("out", 0) == 0;
  EXPECT_EQ(entries, 1u);  // no .old / .tmp folders
}

}  // namespace
}  // namespace gq
