// Recipe: Recipe::parse on the input text, then resolved against the quantization targets of a
// small Gemma 4 config (tiny-e2b's shape: 8 layers, KV sharing, PLE, double-wide MLP) for both a
// float32 and a bfloat16 source.
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "io/error.h"
#include "model/gemma4_config.h"
#include "model/quant_targets.h"
#include "recipes/recipe.h"

namespace {

const char* const kConfig = R"({
  "architectures": ["Gemma4ForCausalLM"], "model_type": "gemma4_text",
  "head_dim": 64, "hidden_size": 256, "hidden_size_per_layer_input": 64, "intermediate_size": 512,
  "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention",
                  "full_attention", "sliding_attention", "sliding_attention", "full_attention"],
  "num_attention_heads": 4, "num_hidden_layers": 8, "num_key_value_heads": 1, "num_kv_shared_layers": 3,
  "per_layer_config": {"4": {"head_dim": 128}, "7": {"head_dim": 128}},
  "sliding_window": 128, "tie_word_embeddings": true, "use_double_wide_mlp": true,
  "vocab_size": 4096, "vocab_size_per_layer_input": 4096})";

const std::vector<gq::QuantTarget>& targets() {
  static const std::vector<gq::QuantTarget> t = gq::gemma4_quant_targets(gq::Gemma4Config::parse(kConfig, "fuzz/config.json"));
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<gq::QuantTarget>& t = targets();  // outside the try: the fixed config must parse
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const gq::Recipe recipe = gq::Recipe::parse(text, "fuzz/recipe.json");
    (void)gq::resolve_recipe(recipe, t, gq::DType::F32);
    (void)gq::resolve_recipe(recipe, t, gq::DType::BF16);
  } catch (const gq::FormatError&) {
  }
  return 0;
}
