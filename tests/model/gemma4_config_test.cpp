// Gemma4Config: HF's resolution rules (defaults, per-layer dims, KV donors, double-wide MLP) on the
// fixtures and the release configs, and one clear error per kind of bad config.
#include <gtest/gtest.h>

#include <numeric>

#include "io/error.h"
#include "model/gemma4_config.h"
#include "model/gemma4_tensors.h"

namespace gq {
namespace {

const std::string kData = GQ_TEST_DATA;
const std::string kConfigs = std::string(GQ_TEST_DATA) + "/../../examples/configs/";

std::string error_of(const std::string& json) {
  try {
    Gemma4Config::parse(json, "cfg.json");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

// A minimal valid text config; tests patch one field at a time.
std::string minimal(const std::string& extra = "") {
  return R"({"model_type": "gemma4_text", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64,
             "num_hidden_layers": 4, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16)" +
         extra + "}";
}

TEST(Gemma4Config, DensePleFixtureResolvesLikeHF) {
  const Gemma4Config c = Gemma4Config::load(kData + "/gemma4-tiny/dense_ple");
  EXPECT_EQ(c.weight_prefix, "model.");
  EXPECT_EQ(c.layer_head_dim, (std::vector<int64_t>{64, 64, 128, 64, 64, 128}));
  EXPECT_EQ(c.kv_donor, (std::vector<int>{-1, -1, -1, 1, 1, 2}));
  EXPECT_EQ(c.layer_intermediate, (std::vector<int64_t>{256, 256, 256, 512, 512, 512}));
  EXPECT_EQ(c.hidden_size_per_layer_input, 32);
  EXPECT_EQ(c.llama_cpp_kv_sharing_problem(), "");
  ASSERT_TRUE(c.final_logit_softcapping.has_value());
  EXPECT_EQ(*c.final_logit_softcapping, 30.0);
}

TEST(Gemma4Config, MultimodalLayoutUsesTextConfigAndLanguageModelPrefix) {
  const Gemma4Config c = Gemma4Config::load(kData + "/gemma4-tiny/dense_ple_mm_bf16/config.json");
  EXPECT_EQ(c.architecture, "Gemma4ForConditionalGeneration");
  EXPECT_EQ(c.weight_prefix, "model.language_model.");
  EXPECT_EQ(c.hidden_size, 128);
  EXPECT_EQ(c.dtype, "bfloat16");
}

TEST(Gemma4Config, KeqVFullLayersHaveNoVProjAndFewerKvHeads) {
  const Gemma4Config c = Gemma4Config::load(kData + "/gemma4-tiny/moe_keqv");
  EXPECT_EQ(c.layer_kv_heads, (std::vector<int64_t>{2, 1, 2, 1}));
  EXPECT_TRUE(c.has_v_proj(0));
  EXPECT_FALSE(c.has_v_proj(1));
  EXPECT_TRUE(c.enable_moe_block);
  EXPECT_EQ(c.num_experts, 8);
  EXPECT_EQ(c.moe_intermediate_size, 64);
}

TEST(Gemma4Config, ReleaseE2BDonorsAndLayerPattern) {
  const Gemma4Config c = Gemma4Config::load(kConfigs + "e2b.json");
  EXPECT_EQ(c.first_kv_shared_layer(), 15);
  for (int64_t i = 15; i < 35; ++i) EXPECT_EQ(c.kv_donor[size_t(i)], c.is_sliding(i) ? 13 : 14) << i;
  EXPECT_EQ(c.layer_intermediate[14], 6144);
  EXPECT_EQ(c.layer_intermediate[15], 12288);
  EXPECT_EQ(c.layer_head_dim[4], 512);
  EXPECT_EQ(c.layer_head_dim[3], 256);
  EXPECT_EQ(c.llama_cpp_kv_sharing_problem(), "");
  // Official converter: 601 GGUF tensors = every HF text tensor (incl. unused shared k/v) + rope_freqs.
  EXPECT_EQ(gemma4_tensor_specs(c).size() + 1, 601u);
}

TEST(Gemma4Config, ReleaseParameterCountsMatchPublishedOnes) {
  auto total = [](const std::string& f, bool with_unused) {
    int64_t n = 0;
    for (const TensorSpec& s : gemma4_tensor_specs(Gemma4Config::load(kConfigs + f)))
      if (with_unused || !s.unused) n += s.numel();
    return n;
  };
  EXPECT_NEAR(double(total("31b.json", true)), 30.70e9, 0.005e9);    // llama.cpp loader log: 30.70 B
  EXPECT_NEAR(double(total("26b-a4b.json", true)), 25.2e9, 0.05e9);  // ~25.2 B total
  EXPECT_NEAR(double(total("e4b.json", true)), 7.5e9, 0.05e9);       // GGUF size label "7.5B"
  const Gemma4Config e4b = Gemma4Config::load(kConfigs + "e4b.json");
  EXPECT_EQ(e4b.kv_donor[41], 23);
  EXPECT_EQ(e4b.kv_donor[40], 22);
}

TEST(Gemma4Config, HfDefaults) {
  const Gemma4Config c = Gemma4Config::parse(minimal(), "cfg.json");
  EXPECT_EQ(c.hidden_size_per_layer_input, 256);  // PLE is on unless the config turns it off
  EXPECT_EQ(c.layer_types.back(), LayerType::Full);  // last layer forced full
  EXPECT_EQ(c.layer_types[0], LayerType::Sliding);
  EXPECT_EQ(c.rope_full.rope_type, "proportional");
  EXPECT_EQ(c.rope_full.partial_rotary_factor, 0.25);
  EXPECT_EQ(c.sliding_window, 512);
  EXPECT_FALSE(c.final_logit_softcapping.has_value());
  EXPECT_EQ(Gemma4Config::parse(minimal(R"(, "hidden_size_per_layer_input": null)"), "x").hidden_size_per_layer_input, 0);
  const Gemma4Config twelve = Gemma4Config::parse(
      R"({"model_type": "gemma4_text", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64,
          "num_hidden_layers": 12, "num_attention_heads": 2, "num_key_value_heads": 1})", "x");
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(twelve.is_sliding(i), (i + 1) % 6 != 0) << i;
}

TEST(Gemma4Config, ExpertIntermediateSizeAlias) {
  const Gemma4Config c = Gemma4Config::parse(
      minimal(R"(, "enable_moe_block": true, "num_experts": 4, "top_k_experts": 2, "expert_intermediate_size": 24)"), "x");
  EXPECT_EQ(c.moe_intermediate_size, 24);
}

TEST(Gemma4Config, LlamaCppKvSharingMismatchIsExplained) {
  // Last non-shared layer sliding: HF and llama.cpp pick different donors.
  const Gemma4Config c = Gemma4Config::parse(
      minimal(R"(, "layer_types": ["full_attention", "sliding_attention", "sliding_attention", "full_attention"],
                 "num_kv_shared_layers": 1)"), "x");
  EXPECT_EQ(c.kv_donor[3], 0);
  EXPECT_NE(c.llama_cpp_kv_sharing_problem().find("layer 3"), std::string::npos);
}

struct BadConfig {
  const char* what;
  std::string json;
  const char* expected;  // substring of the message
};

TEST(Gemma4Config, BadConfigsGiveOneClearError) {
  const std::vector<BadConfig> cases = {
      {"malformed", "{\"model_type\": ", "malformed JSON"},
      {"not an object", "[1, 2]", "expected a JSON object"},
      {"missing model_type", R"({"hidden_size": 3})", "model_type: required field is missing"},
      {"unknown model_type", R"({"model_type": "llama"})", "unsupported model_type 'llama'"},
      {"missing hidden_size",
       R"({"model_type": "gemma4_text", "vocab_size": 64, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 2})",
       "hidden_size: required field is missing"},
      {"wrong type", minimal(R"(, "sliding_window": "8")"), "sliding_window: expected an integer"},
      {"string for int", R"({"model_type": "gemma4_text", "vocab_size": "64"})", "vocab_size: expected an integer"},
      {"bool wrong type", minimal(R"(, "attention_k_eq_v": 1)"), "attention_k_eq_v: expected true or false"},
      {"negative", minimal(R"(, "sliding_window": -1)"), "sliding_window: must be positive"},
      {"layer_types length", minimal(R"(, "layer_types": ["full_attention"])"), "layer_types: has 1 entries for 4 layers"},
      {"layer type name", minimal(R"(, "layer_types": ["a", "b", "c", "d"])"), "unknown layer type 'a'"},
      {"moe without experts", minimal(R"(, "enable_moe_block": true)"), "num_experts: required field is missing"},
      {"multimodal without text_config", R"({"model_type": "gemma4"})", "text_config: required"},
      {"text_config wrong type", R"({"model_type": "gemma4", "text_config": 3})", "text_config: expected an object"},
      {"nested field", R"({"model_type": "gemma4", "text_config": {"vocab_size": 64}})",
       "text_config.hidden_size: required field is missing"},
      {"per_layer_config key", minimal(R"(, "per_layer_config": {"9": {"head_dim": 8}})"), "per_layer_config.9"},
      {"heads not divisible", minimal(R"(, "num_key_value_heads": 3)"), "not a multiple of its 3 KV heads"},
      {"rope type", minimal(R"(, "rope_parameters": {"full_attention": {"rope_type": "yarn"}})"),
       "unsupported RoPE type 'yarn'"},
      {"shared too many", minimal(R"(, "num_kv_shared_layers": 4)"), "num_kv_shared_layers: must be in"},
      // Hostile numbers: out of int64's range (converting them was undefined behaviour), above the
      // size limit (they sized allocations), beyond double's range (nlohmann's raw error before).
      {"float beyond int64", R"({"model_type": "gemma4_text", "vocab_size": 64, "hidden_size": 32,
           "intermediate_size": 1e22, "num_hidden_layers": 4, "num_attention_heads": 2})",
       "intermediate_size: expected an integer, got 1e+22"},
      {"unsigned beyond int64", minimal(R"(, "sliding_window": 18446744073709551615)"), "sliding_window: is out of range"},
      {"above the size limit", minimal(R"(, "sliding_window": 2147483648)"),
       "sliding_window: 2147483648 is above the largest size gemma-qat accepts (16777216)"},
      {"nan-like", minimal(R"(, "sliding_window": 1e400)"), "cfg.json"},
  };
  for (const BadConfig& bc : cases) {
    const std::string msg = error_of(bc.json);
    EXPECT_NE(msg.find(bc.expected), std::string::npos) << bc.what << ": got '" << msg << "'";
    EXPECT_EQ(msg.rfind("cfg.json: ", 0), 0u) << bc.what << ": message must name the file: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << bc.what;
  }
}

TEST(Gemma4Config, MissingFileIsNamed) {
  try {
    Gemma4Config::load("/nonexistent/dir/config.json");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/config.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace gq
