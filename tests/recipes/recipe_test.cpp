// Recipes: the built-ins resolve on the release shapes; bad recipes are rejected with a message
// that names the file and the rule.
#include <gtest/gtest.h>

#include "io/error.h"
#include "model/gemma4_config.h"
#include "model/gemma4_tensors.h"
#include "recipes/memory_footprint.h"
#include "model/quant_targets.h"
#include "recipes/recipe.h"

namespace gq {
namespace {

const std::string kConfigs = std::string(GQ_TEST_DATA) + "/../../examples/configs/";

std::vector<QuantTarget> targets(const std::string& config) { return gemma4_quant_targets(Gemma4Config::load(kConfigs + config)); }

std::string resolve_error(const std::string& json, const std::string& config = "e2b.json") {
  try {
    resolve_recipe(Recipe::parse(json, "r.json"), targets(config));
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(Recipe, BuiltinsResolveOnEveryReleaseShape) {
  for (const char* recipe : {"q4_0", "q4_0-embed-q8_0", "q4_0-embed-f16", "w4a16-g32", "w4a16-g128", "w8a8-static"})
    for (const char* config : {"e2b.json", "e4b.json", "12b.json", "26b-a4b.json", "31b.json"}) {
      if (std::string(recipe) == "w4a16-g128" && std::string(config) == "26b-a4b.json") {
        // 26B-A4B's dense MLP is 2112 wide: not a whole number of 128-groups, so the recipe must refuse.
        EXPECT_THROW(resolve_recipe(Recipe::load(recipe), targets(config)), FormatError);
        continue;
      }
      EXPECT_NO_THROW(resolve_recipe(Recipe::load(recipe), targets(config))) << recipe << " on " << config;
    }
  for (const char* config : {"e2b.json", "e4b.json"})
    EXPECT_NO_THROW(resolve_recipe(Recipe::load("mobile"), targets(config))) << config;
}

TEST(Recipe, Q4_0TargetsLinearsAndEmbeddingsButNotRouter) {
  const ResolvedRecipe r = resolve_recipe(Recipe::load("q4_0"), targets("26b-a4b.json"));
  EXPECT_EQ(quant::weight_scheme_name(r.weights.at("layers.0.self_attn.q_proj")), "q4_0");
  EXPECT_EQ(quant::weight_scheme_name(r.weights.at("layers.0.experts.gate_up_proj")), "q4_0");
  EXPECT_EQ(quant::weight_scheme_name(r.weights.at("embed_tokens")), "q4_0");
  EXPECT_EQ(r.weights.count("layers.0.router.proj"), 0u);
  EXPECT_EQ(quant::weight_scheme_name(r.weights.at("lm_head")), "q4_0");  // tied: reads the table
  EXPECT_FALSE(r.untie_head);
}

TEST(Recipe, MobileUntiesA2BitHeadAndSharesNothingSilently) {
  const ResolvedRecipe r = resolve_recipe(Recipe::load("mobile"), targets("e2b.json"));
  EXPECT_TRUE(r.untie_head);
  EXPECT_EQ(quant::weight_scheme_name(r.weights.at("lm_head")), "int2_channel@bf16");
  EXPECT_EQ(quant::weight_scheme_name(r.weights.at("embed_tokens_per_layer")), "int4_channel@bf16");
  EXPECT_EQ(quant::weight_scheme_name(r.weights.at("layers.3.per_layer_input_gate")), "int8_channel@bf16");  // later rule wins
  EXPECT_EQ(quant::weight_scheme_name(r.weights.at("layers.3.mlp.down_proj")), "int4_channel@bf16");
  // q,k,v,o,gate,up,down per layer, minus k/v of the 20 KV-shared layers, + PLE gate/proj, + PLE model
  // proj, + the head: inputs and outputs alike (vLLM's WNA8O8Int needs both), computed in bf16.
  const size_t linears = size_t(35 * 7 - 20 * 2 + 35 * 2 + 1);
  EXPECT_EQ(r.activations.size(), linears + 1);
  EXPECT_EQ(r.output_activations.size(), linears + 1);
  for (const auto* m : {&r.activations, &r.output_activations}) {
    EXPECT_EQ(quant::activation_scheme_name(m->at("lm_head")), "int8_sym@bf16");
    EXPECT_EQ(quant::activation_scheme_name(m->at("layers.3.self_attn.k_proj")), "int8_sym@bf16");
    EXPECT_EQ(m->count("embed_tokens"), 0u);
  }
  EXPECT_FALSE(r.kv_cache.has_value());  // vLLM runs any kv_cache_scheme as an fp8 cache
  // vLLM computes in bf16: float tensors and channel scales are bf16 whatever the checkpoint holds.
  EXPECT_EQ(r.float_dtype, DType::BF16);
  EXPECT_EQ(r.weights.at("layers.3.mlp.down_proj").scale_dtype, DType::BF16);
  EXPECT_EQ(r.weights.at("lm_head").scale_dtype, DType::BF16);
}

TEST(Recipe, MemoryPlanOfE2B) {
  const Gemma4Config c = Gemma4Config::load(kConfigs + "e2b.json");
  const MemoryFootprint p = memory_footprint(c, resolve_recipe(Recipe::load("q4_0"), gemma4_quant_targets(c)), StorageFormat::Gguf, 4096);
  // Q4_0 is 18 bytes per 32 weights: the PLE table (262144 x 8960) alone is 262144 * 280 * 18 bytes.
  EXPECT_EQ(p.ple_table_bytes, int64_t(262144) * 280 * 18);
  int64_t params = 0;
  for (const TensorSpec& s : gemma4_tensor_specs(c)) params += s.unused ? 0 : s.numel();
  EXPECT_EQ(p.total.params, params);  // every HF text parameter counted once
  EXPECT_GT(p.total.bytes, 2'500'000'000);
  EXPECT_LT(p.total.bytes, 2'800'000'000);
}

TEST(Recipe, BadRecipesAreRejectedWithTheRuleNamed) {
  struct Case {
    const char* what;
    std::string json;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"malformed", "{", "malformed JSON"},
      {"number beyond double", R"({"weights": [{"targets": ["Linear"], "scheme": "q4_0"}], "x": 1e400})", "malformed JSON"},
      {"unknown key", R"({"weights": [], "colour": 1})", "unknown key 'colour'"},
      {"unknown rule key", R"({"weights": [{"targets": ["Linear"], "scheme": "q4_0", "bits": 4}]})", "weights[0]: unknown key 'bits'"},
      {"nothing to do", R"({"name": "x"})", "quantizes nothing"},
      {"regex matching nothing", R"({"weights": [{"targets": ["re:.*nonexistent.*"], "scheme": "q4_0"}]})",
       "weights[0].targets[0]: 're:.*nonexistent.*' matches no module"},
      {"name matching nothing", R"({"weights": [{"targets": ["layers.99.mlp.up_proj"], "scheme": "q4_0"}]})",
       "matches no module"},
      {"bad regex", R"({"weights": [{"targets": ["re:("], "scheme": "q4_0"}]})", "invalid regex"},
      // Hostile regexes: std::regex overflowed the stack on deep nesting and hit undefined behaviour
      // on a huge back-reference; RE2 matches them in linear time (a pattern that matches nothing is
      // the ordinary error, quoted shortened), and refuses a lookahead it cannot run.
      {"deep nesting", R"x({"weights": [{"targets": ["re:)x" + std::string(20000, '(') + "a" + std::string(20000, ')') +
                           R"("], "scheme": "q4_0"}]})", "((((...' matches no module"},
      {"back-reference", R"({"weights": [{"targets": ["re:(a)\\5555555555556666666"], "scheme": "q4_0"}]})", "matches no module"},
      {"lookahead", R"x({"weights": [{"targets": ["re:(?=a)"], "scheme": "q4_0"}]})x", "invalid regex"},
      {"unknown scheme", R"({"weights": [{"targets": ["Linear"], "scheme": "q5_9"}]})", "weights[0]: "},
      {"bits the target cannot hold", R"({"weights": [{"targets": ["layers.0.mlp.down_proj"], "scheme": "int4_g128"}]})", ""},
      {"activations on an embedding", R"({"input_activations": [{"targets": ["Embedding"], "scheme": "int8_sym"}]})",
       "input_activations[0]: input activations can only be quantized on Linear modules and the head"},
      {"output activations on an embedding",
       R"({"output_activations": [{"targets": ["Linear"], "scheme": "int8_sym"}, {"targets": ["Embedding"], "scheme": "int8_sym"}]})",
       "output_activations[1]: output activations can only be quantized on Linear modules and the head (lm_head), not "
       "Embedding embed_tokens"},
      {"unknown output scheme", R"({"output_activations": [{"targets": ["Linear"], "scheme": "int8_asym@bf16"}]})",
       "output_activations[0]: unsupported activation quant scheme 'int8_asym@bf16'"},
      {"output rule matching nothing", R"({"output_activations": [{"targets": ["re:.*nope"], "scheme": "int8_sym"}]})",
       "output_activations[0].targets[0]: 're:.*nope' matches no module"},
      {"bad kv scheme", R"({"kv_cache": "kv_int3"})", "kv_cache: "},
      {"bad observer", R"({"kv_cache": "kv_int8", "observer": "magic"})", "unknown observer 'magic'"},
      {"missing scheme", R"({"weights": [{"targets": ["Linear"]}]})", "'scheme' (a string) is missing"},
  };
  for (const Case& c : cases) {
    const std::string msg = resolve_error(c.json);
    if (std::string(c.what) == "bits the target cannot hold") {
      // E2B's down_proj has 6144 (layers < 15) inputs: divisible by 128. Use a width that is not.
      const std::string m2 = resolve_error(
          R"({"weights": [{"targets": ["layers.0.mlp.down_proj"], "scheme": "q2_0"}]})", "e2b.json");
      EXPECT_EQ(m2, "") << "6144 is a multiple of 64";
      const std::string m3 = resolve_error(
          R"({"weights": [{"targets": ["layers.0.mlp.down_proj"], "scheme": "int4_g128"}]})", "26b-a4b.json");
      EXPECT_NE(m3.find("2112 inputs"), std::string::npos) << m3;  // 26B dense MLP width 2112 = 16.5 * 128
      continue;
    }
    EXPECT_NE(msg.find(c.expected), std::string::npos) << c.what << ": '" << msg.substr(0, 400) << "'";
    EXPECT_EQ(msg.rfind("r.json: ", 0), 0u) << c.what << ": '" << msg.substr(0, 400) << "'";
    EXPECT_LT(msg.size(), 600u) << c.what << ": a message quotes at most a shortened pattern";
  }
}

TEST(Recipe, UnknownBuiltinListsTheBuiltins) {
  try {
    Recipe::load("q3_nope");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("q4_0"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gq
