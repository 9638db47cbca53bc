// The deployment contract a resolved recipe states: the float dtype of every unquantized tensor
// ("auto" follows the checkpoint), the scale dtype of channel and group schemes (the float dtype
// unless the scheme names one), and an ignored head that stays float even on a tied model.
#include <gtest/gtest.h>

#include "io/error.h"
#include "model/gemma4_config.h"
#include "model/quant_targets.h"
#include "recipes/memory_footprint.h"
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

// plan counts the KV cache the scheme deploys: llama.cpp's blocks for kv_q8_0 / kv_q4_0, codes and
// a float32 row scale for kv_int8, 2 bytes a value unquantized; per layer with its own cache, the
// sliding ones at most their window.
TEST(DeploymentContract, PlanCountsTheKvCacheOfTheScheme) {
  const Gemma4Config cfg = Gemma4Config::load(std::string(GQ_TEST_DATA) + "/../../examples/configs/e2b.json");
  const int64_t ctx = 8192;
  auto kv_bytes = [&](const char* kv) {
    const std::string j = std::string(R"({"weights": [{"targets": ["Linear"], "scheme": "q4_0"}])") +
                          (kv ? std::string(R"(, "kv_cache": ")") + kv + "\"" : "") + "}";
    return memory_footprint(cfg, resolve(j, DType::BF16), StorageFormat::Gguf, ctx).kv_cache_bytes;
  };
  auto expected = [&](double bytes_per_value, int64_t per_row) {
    int64_t total = 0;
    for (int64_t i = 0; i < cfg.L(); ++i) {
      if (cfg.is_kv_shared(i)) continue;
      const int64_t hd = cfg.layer_head_dim[size_t(i)], tokens = cfg.is_sliding(i) ? std::min(ctx, cfg.sliding_window) : ctx;
      total += 2 * tokens * cfg.layer_kv_heads[size_t(i)] * (int64_t(double(hd) * bytes_per_value) + per_row);
    }
    return total;
  };
  EXPECT_EQ(kv_bytes(nullptr), expected(2.0, 0));
  EXPECT_EQ(kv_bytes("kv_q8_0"), expected(34.0 / 32, 0));
  EXPECT_EQ(kv_bytes("kv_q4_0"), expected(18.0 / 32, 0));
  EXPECT_EQ(kv_bytes("kv_int8"), expected(1.0, 4));
  EXPECT_LT(kv_bytes("kv_q8_0"), kv_bytes(nullptr));
}

}  // namespace
}  // namespace gq
