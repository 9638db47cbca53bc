// Which ggml type each weight of a Gemma 4 GGUF gets under a resolved recipe (recipes/recipe.h; one
// export type, --type, stands for a recipe too): block types for the quantized modules, the
// recipe's float dtype for every other weight. GGUF holds Q8_0 / Q4_0 / Q2_0 blocks and plain
// floats; a recipe asking for something else (channel or group ints, static activation scales, an
// int8 KV cache) is refused, or, with `nearest`, mapped to the nearest thing GGUF has and reported
// as a warning — never dropped silently.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "model/gemma4_config.h"
#include "formats/gguf.h"
#include "quant/scheme.h"
#include "recipes/recipe.h"

namespace gq {

struct GgufTensorTypes {
  std::string recipe;                            // recipe name ("" for a float --type)
  std::map<std::string, GgmlType> modules;       // quant-target module -> block type
  std::map<std::string, quant::WeightScheme> schemes;  // the recipe's scheme for those modules
  DType float_dtype = DType::F16;                // every float value (F32 tensors hold values rounded to it)
  GgmlType unquantized = GgmlType::F16;          // every other 2-D / 3-D weight: float_dtype (router: always F32)
  bool untie_head = false;                       // lm_head gets its own tensor: write output.weight
  std::vector<std::string> warnings;             // what --nearest mapped
};

// The recipe a block --type (q8_0, q4_0, q2_0) stands for: that type on every Linear, expert bank,
// embedding table and an untied head; the router and the PLE model projection unquantized, as
// llama-quantize leaves them; floats in f16 (the same rule as the built-in q4_0 recipe).
Recipe gguf_type_recipe(GgmlType type);
// F32, F16 or BF16 for a float dtype.
GgmlType gguf_float_type(DType t);

// The types of a resolved recipe (a --type f32 / f16 / bf16 resolves to no weights at all).
// `what` names it in messages ("recipe 'q4_0' (recipes/q4_0.json)").
GgufTensorTypes gguf_types(const Gemma4Config& cfg, const ResolvedRecipe& rr, bool nearest, const std::string& what);

// The GGUF block type nearest to a scheme GGUF lacks (int8 -> Q8_0, int4 -> Q4_0, int2 -> Q2_0 when
// rows allow 64-blocks, else Q4_0).
GgmlType nearest_gguf_type(const quant::WeightScheme& s, int64_t cols);

}  // namespace gq
