// Input and output activation rules: on Linears and the head, the calibration record that holds
// their scales (old records without outputs still read), and the checkpoint dtype "auto" follows.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "io/error.h"
#include "model/gemma4_config.h"
#include "model/quant_targets.h"
#include "recipes/calibration.h"
#include "recipes/recipe.h"

namespace gq {
namespace {

namespace fs = std::filesystem;

std::vector<QuantTarget> e2b_targets() {
  return gemma4_quant_targets(Gemma4Config::load(std::string(GQ_TEST_DATA) + "/../../examples/configs/e2b.json"));
}

std::string temp_path(const std::string& name) {
  return (fs::path(::testing::TempDir()) / (name + "_" + std::to_string(::getpid()))).string();
}

TEST(ActivationRules, OutputsResolveOnLinearsAndTheHead) {
  const ResolvedRecipe r = resolve_recipe(Recipe::parse(R"({
      "input_activations":  [{"targets": ["re:layers\\.0\\.self_attn\\..*"], "scheme": "int8_sym"}],
      "output_activations": [{"targets": ["re:layers\\.0\\.self_attn\\..*", "lm_head"], "scheme": "int8_sym@bf16"},
                             {"targets": ["layers.0.self_attn.o_proj"], "scheme": "int8_sym_narrow@bf16"}],
      "ignore": ["layers.0.self_attn.v_proj"]})", "r.json"),
                                          e2b_targets());
  EXPECT_TRUE(r.has_static_activations());
  EXPECT_EQ(r.activations.size(), 3u);  // q, k, o (v ignored)
  EXPECT_EQ(r.output_activations.size(), 4u);  // q, k, o and the head
  EXPECT_EQ(quant::activation_scheme_name(r.output_activations.at("lm_head")), "int8_sym@bf16");
  EXPECT_EQ(quant::activation_scheme_name(r.output_activations.at("layers.0.self_attn.o_proj")), "int8_sym_narrow@bf16");
  EXPECT_EQ(r.output_activations.count("layers.0.self_attn.v_proj"), 0u);

  const ResolvedRecipe outputs_only = resolve_recipe(
      Recipe::parse(R"({"output_activations": [{"targets": ["lm_head"], "scheme": "int8_sym"}]})", "r.json"), e2b_targets());
  EXPECT_TRUE(outputs_only.activations.empty());
  EXPECT_TRUE(outputs_only.has_static_activations());
  const ResolvedRecipe weights_only = resolve_recipe(
      Recipe::parse(R"({"weights": [{"targets": ["Linear"], "scheme": "q4_0"}]})", "r.json"), e2b_targets());
  EXPECT_FALSE(weights_only.has_static_activations());
}

TEST(ActivationRules, CalibrationRecordHoldsOutputScales) {
  Calibration c;
  c.recipe = "mobile";
  c.observer = "minmax";
  c.activations["layers.0.mlp.up_proj"] = {"int8_sym@bf16", -1.5f, 2.25f, 0.017578125f, 0};
  c.output_activations["layers.0.mlp.up_proj"] = {"int8_sym@bf16", -7.0f, 3.0f, 0.05517578125f, 0};
  c.output_activations["lm_head"] = {"int8_sym@bf16", -30.0f, 41.0f, 0.322265625f, 0};
  const std::string path = temp_path("calib_out.json");
  c.save(path);
  const Calibration back = Calibration::load(path);
  ASSERT_EQ(back.output_activations.size(), 2u);
  EXPECT_EQ(back.output_activations.at("lm_head").scale, 0.322265625f);
  EXPECT_EQ(back.output_activations.at("lm_head").min, -30.0f);
  EXPECT_EQ(back.output_activations.at("layers.0.mlp.up_proj").scheme, "int8_sym@bf16");
  EXPECT_EQ(back.activations.at("layers.0.mlp.up_proj").max, 2.25f);

  // A record written before outputs were quantized reads as having none.
  {
    std::ofstream f(path);
    f << R"({"format": "gemma-qat-calibration/1", "recipe": "w8a8-static", "observer": "minmax",
             "activations": {"layers.0.mlp.up_proj": {"scheme": "int8_sym", "min": -1, "max": 1, "scale": 0.0078740157,
                                                      "zero_point": 0}},
             "kv_cache": {}})";
  }
  const Calibration old = Calibration::load(path);
  EXPECT_EQ(old.activations.size(), 1u);
  EXPECT_TRUE(old.output_activations.empty());

  // A bad output entry is named.
  {
    std::ofstream f(path);
    f << R"({"format": "gemma-qat-calibration/1",
             "output_activations": {"lm_head": {"scheme": "int8_sym", "min": -1, "max": 1, "scale": -2, "zero_point": 0}}})";
  }
  try {
    Calibration::load(path);
    FAIL() << "accepted a negative scale";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("output_activations.lm_head.scale: must be finite and positive"), std::string::npos)
        << e.what();
  }
  // A number beyond double's range and a value of the wrong type: the file named, no raw nlohmann error.
  for (const char* text : {R"({"format": "gemma-qat-calibration/1", "activations": {"lm_head": {"scale": 1e400}}})",
                           R"({"format": "gemma-qat-calibration/1", "recipe": 3})"}) {
    {
      std::ofstream f(path);
      f << text;
    }
    try {
      Calibration::load(path);
      FAIL() << "accepted " << text;
    } catch (const FormatError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
    }
  }
  fs::remove(path);
}

}  // namespace
}  // namespace gq
