// Which ggml type each weight of a Gemma 4 GGUF gets: from one export type (--type) or from a recipe
// (recipes/recipe.h). GGUF holds Q8_0 / Q4_0 / Q2_0 blocks and plain floats; a recipe asking for
// something else (channel or group ints, static activation scales, an int8 KV cache) is refused, or,
// with `nearest`, mapped to the nearest thing GGUF has and reported as a warning — never dropped
// silently.
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
  GgmlType unquantized = GgmlType::F16;          // every other 2-D / 3-D weight (router: always F32)
  bool untie_head = false;                       // lm_head gets its own type: write output.weight
  std::vector<std::string> warnings;             // what --nearest mapped
};

// f32 / f16 / bf16: that type everywhere. q8_0 / q4_0 / q2_0: the block type on every Linear, expert
// bank, embedding table and an untied head; the router and the PLE model projection stay F16, as
// llama-quantize leaves them (the same rule as the built-in q4_0 recipe).
GgufTensorTypes gguf_types_for_type(const Gemma4Config& cfg, GgmlType type);
GgufTensorTypes gguf_types_for_recipe(const Gemma4Config& cfg, const Recipe& recipe, bool nearest);

// The GGUF block type nearest to a scheme GGUF lacks (int8 -> Q8_0, int4 -> Q4_0, int2 -> Q2_0 when
// rows allow 64-blocks, else Q4_0).
GgmlType nearest_gguf_type(const quant::WeightScheme& s, int64_t cols);

}  // namespace gq
