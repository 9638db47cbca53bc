// Declarative quantization recipes (llm-compressor style): JSON rules that target modules by kind
// ("Linear", "Embedding", "Experts"), by exact name, or by "re:<regex>" (full match on the module
// name), each naming a scheme from quant/scheme.h. A recipe is data; resolving it against a
// model's targets gives the scheme of every module, and every mistake is a clear error.
//
//   {
//     "name": "q4_0",
//     "description": "...",
//     "weights":            [{"targets": ["Linear", "Embedding"], "scheme": "q4_0"}],
//     "input_activations":  [{"targets": ["Linear", "lm_head"], "scheme": "int8_sym@bf16"}],
//     "output_activations": [{"targets": ["Linear", "lm_head"], "scheme": "int8_sym@bf16"}],
//     "kv_cache": "kv_int8",
//     "ignore": ["re:.*router\\.proj"],
//     "observer": "moving_minmax",
//     "learnable_scales": false,
//     "unquantized_dtype": "auto"
//   }
//
// Later rules override earlier ones for the modules they match (a general rule first, exceptions
// after). "ignore" wins over every rule. The output head ("lm_head") is only matched by name or
// regex; left alone, a tied head reads the (quantized) embedding table, a head scheme that differs
// from the embedding's unties it, and an ignored head stays float (an untied float copy of the table).
// Activations (static, per tensor) apply to a Linear's or the head's input and output, as vLLM's
// CompressedTensorsWNA8O8Int quantizes both (the head is a ParallelLMHead through the same scheme).
//
// The deployment contract: the resolved recipe states the dtype every deployed number is stored in,
// and the fake-quant model, every exporter and the memory plan follow it. `unquantized_dtype` is
// the dtype of every float tensor ("auto": the checkpoint's own; a training run's is float32, what
// it trained); a channel or group scheme without an "@dtype" suffix stores its scales in that
// dtype too (vLLM computes with scales in the model dtype); GGUF block scales are always fp16.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "model/quant_targets.h"
#include "quant/scheme.h"

namespace gq {

struct RecipeRule {
  std::vector<std::string> targets;
  std::string scheme;  // scheme name as written
};

struct Recipe {
  std::string source;  // file, for messages
  std::string name, description;
  std::vector<RecipeRule> weights, input_activations, output_activations;
  std::optional<std::string> kv_cache;
  std::vector<std::string> ignore;
  std::string observer = "minmax";  // calibration default: minmax, moving_minmax, percentile, mse
  bool learnable_scales = false;
  std::string unquantized_dtype = "auto";  // float tensors no rule quantizes: auto, bf16, f16, f32

  static Recipe load(const std::string& path);  // a file, or a built-in name ("q4_0") under recipes/
  static Recipe parse(const std::string& json_text, const std::string& source);
};

// Which scheme every targeted module gets.
struct ResolvedRecipe {
  std::string name;
  std::map<std::string, quant::WeightScheme> weights;          // module -> scheme
  std::map<std::string, quant::ActivationScheme> activations;         // Linear or "lm_head" -> input scheme
  std::map<std::string, quant::ActivationScheme> output_activations;  // Linear or "lm_head" -> output scheme
  std::optional<quant::KvScheme> kv_cache;
  bool untie_head = false;  // lm_head gets its own tensor: a copy of the embedding table, quantized
                            // with weights["lm_head"], or float when the head is ignored
  std::string observer;
  bool learnable_scales = false;
  DType float_dtype = DType::F32;  // storage of every float tensor (F32, F16 or BF16)
  int unquantized_bytes = 4;       // dtype_size(float_dtype)

  // Whether the fake-quant model learns `module`'s weight scale (qat quantize_model; a plain
  // checkpoint's export then writes the learned-scale rule at the RTN scale): learnable_scales
  // recipes learn every quantized Linear and expert bank, and a head with a tensor of its own;
  // token and per-layer embedding tables stay RTN (a learned row scale would need the token ids).
  bool learns_scale(const std::string& module, bool tied_head) const {
    if (!learnable_scales || !weights.count(module) || module == "embed_tokens" || module == "embed_tokens_per_layer")
      return false;
    return module != "lm_head" || !tied_head || untie_head;
  }

  // Static activation scales (inputs or outputs) that a calibration must provide.
  bool has_static_activations() const { return !activations.empty() || !output_activations.empty(); }
};

// "auto" -> `source` (the checkpoint's float dtype); else the named dtype.
DType resolve_float_dtype(const std::string& unquantized_dtype, DType source);

// Throws FormatError naming the recipe file and the rule for: a target matching no module, a
// scheme a target cannot hold (row length not a multiple of the block, activations on anything but
// a Linear or the head), an unknown scheme name.
// `source` is the float dtype of the checkpoint the recipe is applied to (F32 for a training run).
ResolvedRecipe resolve_recipe(const Recipe& recipe, const std::vector<QuantTarget>& targets,
                              DType source = DType::F32);

// The folder of the built-in recipes: $GEMMA_QAT_RECIPES, else share/gemma-qat/recipes beside an
// installed binary (../share/gemma-qat/recipes from bin/), else the source tree's recipes/.
std::string builtin_recipe_dir();

}  // namespace gq
