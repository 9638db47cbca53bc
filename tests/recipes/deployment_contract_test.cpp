// The deployment contract a resolved recipe states: the float dtype of every unquantized tensor
// ("auto" follows the checkpoint), the scale dtype of channel and group schemes (the float dtype
// unless the scheme names one), and an ignored head that stays float even on a tied model.
#include <gtest/gtest.h>

#include "io/error.h"
#include "model/gemma4_config.h"
#include "model/quant_targets.h"
#include "recipes/recipe.h"

namespace gq {
namespace {

std::vector<QuantTarget> e2b_targets() {
  return gemma4_quant_targets(Gemma4Config::load(std::string(GQ_TEST_DATA) + "/../../examples/configs/e2b.json"));
}

ResolvedRecipe resolve(const std::string& json, DType source) {
  return resolve_recipe(Recipe::parse(json, "r.json"), e2b_targets(), source);
}

TEST(DeploymentContract, AutoFloatDtypeFollowsTheCheckpoint) {
  const std::string json = R"({"weights": [{"targets": ["Linear"], "scheme": "q4_0"}]})";
  EXPECT_EQ(resolve(json, DType::BF16).float_dtype, DType::BF16);
  EXPECT_EQ(resolve(json, DType::F32).float_dtype, DType::F32);
  EXPECT_EQ(resolve(json, DType::F16).float_dtype, DType::F16);
  EXPECT_EQ(resolve(json, DType::F32).unquantized_bytes, 4);
  EXPECT_EQ(resolve(json, DType::BF16).unquantized_bytes, 2);
  // A named dtype wins over the checkpoint's.
  const ResolvedRecipe f16 = resolve(R"({"weights": [{"targets": ["Linear"], "scheme": "q4_0"}], "unquantized_dtype": "f16"})",
                                     DType::F32);
  EXPECT_EQ(f16.float_dtype, DType::F16);
  EXPECT_EQ(f16.unquantized_bytes, 2);
}

TEST(DeploymentContract, ChannelAndGroupScalesDefaultToTheFloatDtype) {
  const std::string json = R"({"weights": [{"targets": ["Linear"], "scheme": "int4_g32"},
                                            {"targets": ["re:layers\\.0\\..*"], "scheme": "int8_channel@f32"},
                                            {"targets": ["re:layers\\.1\\..*"], "scheme": "int4_channel@f16"},
                                            {"targets": ["Embedding"], "scheme": "q4_0"}]})";
  const ResolvedRecipe bf = resolve(json, DType::BF16);
  EXPECT_EQ(bf.weights.at("layers.2.mlp.down_proj").scale_dtype, DType::BF16);  // the model dtype
  EXPECT_EQ(bf.weights.at("layers.0.mlp.down_proj").scale_dtype, DType::F32);   // named
  EXPECT_EQ(bf.weights.at("layers.1.mlp.down_proj").scale_dtype, DType::F16);   // named
  EXPECT_EQ(bf.weights.at("embed_tokens").scale_dtype, DType::F16);             // GGUF blocks: always fp16
  EXPECT_EQ(resolve(json, DType::F32).weights.at("layers.2.mlp.down_proj").scale_dtype, DType::F32);
}

TEST(DeploymentContract, IgnoredHeadOfATiedModelStaysFloat) {
  const std::string quantized = R"({"weights": [{"targets": ["Linear", "Embedding"], "scheme": "q4_0"}]})";
  const ResolvedRecipe plain = resolve(quantized, DType::BF16);
  EXPECT_FALSE(plain.untie_head);  // the tied head reads the quantized table
  EXPECT_EQ(quant::weight_scheme_name(plain.weights.at("lm_head")), "q4_0");

  const ResolvedRecipe ignored =
      resolve(R"({"weights": [{"targets": ["Linear", "Embedding"], "scheme": "q4_0"}], "ignore": ["lm_head"]})",
              DType::BF16);
  EXPECT_TRUE(ignored.untie_head);  // a float copy of the table
  EXPECT_EQ(ignored.weights.count("lm_head"), 0u);
  EXPECT_EQ(quant::weight_scheme_name(ignored.weights.at("embed_tokens")), "q4_0");

  // Ignore beats a rule that names the head too.
  const ResolvedRecipe named = resolve(R"({"weights": [{"targets": ["Linear", "Embedding"], "scheme": "q4_0"},
                                                       {"targets": ["lm_head"], "scheme": "q8_0"}],
                                           "ignore": ["lm_head"]})",
                                       DType::BF16);
  EXPECT_TRUE(named.untie_head);
  EXPECT_EQ(named.weights.count("lm_head"), 0u);
}

TEST(DeploymentContract, UnknownFloatDtypeIsRefused) {
  try {
    Recipe::parse(R"({"weights": [{"targets": ["Linear"], "scheme": "q4_0"}], "unquantized_dtype": "fp8"})", "r.json");
    FAIL() << "accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("r.json: unquantized_dtype: expected auto, bf16, f16 or f32"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace gq
