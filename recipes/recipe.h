// Declarative quantization recipes (llm-compressor style): JSON rules that target modules by kind
// ("Linear", "Embedding", "Experts"), by exact name, or by "re:<regex>" (full match on the module
// name), each naming a scheme from formats/quant/scheme.h. A recipe is data; resolving it against a
// model's targets gives the scheme of every module, and every mistake is a clear error.
//
//   {
//     "name": "q4_0",
//     "description": "...",
//     "weights":           [{"targets": ["Linear", "Embedding"], "scheme": "q4_0"}],
//     "input_activations": [{"targets": ["Linear"], "scheme": "int8_asym"}],
//     "kv_cache": "kv_int8",
//     "ignore": ["re:.*router\\.proj"],
//     "observer": "moving_minmax",
//     "learnable_scales": false,
//     "unquantized_dtype": "bf16"
//   }
//
// Later rules override earlier ones for the modules they match (a general rule first, exceptions
// after). "ignore" wins over every rule. The output head ("lm_head") is only matched by name or
// regex; left alone, a tied head reads the (quantized) embedding table, and a head scheme that
// differs from the embedding's unties it.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "quant/scheme.h"
#include "model/quant_targets.h"

namespace gq {

struct RecipeRule {
  std::vector<std::string> targets;
  std::string scheme;  // scheme name as written
};

struct Recipe {
  std::string source;  // file, for messages
  std::string name, description;
  std::vector<RecipeRule> weights, input_activations;
  std::optional<std::string> kv_cache;
  std::vector<std::string> ignore;
  std::string observer = "minmax";  // calibration default: minmax, moving_minmax, percentile, mse
  bool learnable_scales = false;
  std::string unquantized_dtype = "bf16";  // storage of 2-D tensors no rule quantizes: bf16, f16, f32

  static Recipe load(const std::string& path);  // a file, or a built-in name ("q4_0") under recipes/
  static Recipe parse(const std::string& json_text, const std::string& source);
};

// Which scheme every targeted module gets.
struct ResolvedRecipe {
  std::string name;
  std::map<std::string, quant::WeightScheme> weights;          // module -> scheme
  std::map<std::string, quant::ActivationScheme> activations;  // Linear module -> input scheme
  std::optional<quant::KvScheme> kv_cache;
  bool untie_head = false;  // lm_head gets its own scheme (a copy of the embedding table)
  std::string observer;
  bool learnable_scales = false;
  int unquantized_bytes = 2;
};

// Throws FormatError naming the recipe file and the rule for: a target matching no module, a
// scheme a target cannot hold (row length not a multiple of the block, activations on a
// non-Linear), an unknown scheme name.
ResolvedRecipe resolve_recipe(const Recipe& recipe, const std::vector<QuantTarget>& targets);

// The folder of the built-in recipes (the source tree's recipes/, or $GEMMA_QAT_RECIPES).
std::string builtin_recipe_dir();

}  // namespace gq
