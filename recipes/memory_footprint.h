// Exact storage of a Gemma 4 model under a recipe, from the config alone (no weights allocated):
// bytes per component as the quantized formats lay them out, the PLE table that runtimes can keep
// out of RAM, and the KV cache for a context length.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "model/gemma4_config.h"
#include "recipes/recipe.h"

namespace gq {

struct FootprintEntry {
  int64_t params = 0;
  int64_t bytes = 0;
};

struct MemoryFootprint {
  std::map<std::string, FootprintEntry> components;  // "attention", "mlp", "embeddings", "output head", ...
  FootprintEntry total;
  int64_t ple_table_bytes = 0;   // included in total; kept out of RAM in "text only" deployments
  int64_t kv_cache_bytes = 0;    // at `context` tokens, batch 1
  int64_t context = 0;
  std::map<std::string, int64_t> scheme_params;  // parameters per storage scheme ("q4_0", "bf16", ...)
};

// Bytes of one [rows, cols] weight stored with `scheme` (GGUF blocks, or packed codes + scales
// (+ packed zero points) as compressed-tensors / the native format write them).
int64_t quantized_weight_bytes(const quant::WeightScheme& scheme, int64_t rows, int64_t cols);

MemoryFootprint memory_footprint(const Gemma4Config& cfg, const ResolvedRecipe& recipe, int64_t context);

}  // namespace gq
