// Exact storage of a Gemma 4 model under a recipe, from the config alone (no weights allocated):
// the tensor bytes the exporter of a format writes (headers and metadata aside: the safetensors
// JSON header, GGUF keys, tensor infos and alignment padding), per component, the PLE table that
// runtimes can keep out of RAM, and the KV cache for a context length.
//
// Both formats store what the resolved recipe states (the deployment contract, recipes/recipe.h):
// quantized modules in their scheme, every other float tensor in the recipe's float dtype, with
// what each format adds:
//   gguf                1-D tensors and the MoE router as F32 (llama.cpp's rule; the values are the
//                       float dtype's), the generated rope_freqs, an untied head as output.weight;
//   compressed-tensors  int32-packed codes and a weight_shape per module, or plain int8 weights
//                       (ct_int8_weights), MoE banks split per expert, float32 [1] input_scale /
//                       output_scale per module with static activations, float32 k/v scales per layer.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "model/gemma4_config.h"
#include "recipes/recipe.h"

namespace gq {

enum class StorageFormat { Gguf, CompressedTensors };

const char* storage_format_name(StorageFormat f);  // "gguf", "compressed-tensors"
std::optional<StorageFormat> storage_format_from_name(const std::string& name);

// The format a recipe is written for: GGUF when it quantizes weights and every weight scheme is a
// GGUF block type, compressed-tensors otherwise.
StorageFormat default_storage_format(const ResolvedRecipe& recipe);

struct FootprintEntry {
  int64_t params = 0;
  int64_t bytes = 0;
};

struct MemoryFootprint {
  StorageFormat format = StorageFormat::Gguf;
  std::map<std::string, FootprintEntry> components;  // "attention", "mlp", "embeddings", "output head", ...
  FootprintEntry total;
  int64_t ple_table_bytes = 0;   // included in total; kept out of RAM in "text only" deployments
  int64_t kv_cache_bytes = 0;    // at `context` tokens, batch 1
  int64_t context = 0;
  std::map<std::string, int64_t> scheme_params;  // parameters per storage scheme ("q4_0", "bf16", ...)
  // Bytes per recipe target (model/quant_targets.h names), quantized or float: its tensor, its
  // activation scales, and under "lm_head" a head's tensor of its own (an untied copy of a tied
  // table included). Included in total; what no target holds (norms, scalars, rope) is not here.
  std::map<std::string, int64_t> module_bytes;
};

// Bytes of one [rows, cols] weight stored with `scheme`: GGUF blocks, or int32-packed codes + scales
// (+ zero points packed along the rows) as compressed-tensors writes them.
int64_t quantized_weight_bytes(const quant::WeightScheme& scheme, int64_t rows, int64_t cols);

// How compressed-tensors stores a quantized module: plain int8 weights ("int-quantized", vLLM's
// W8A8 and Google's mobile checkpoints) for 8-bit weights of a matmul with static int8 inputs,
// int32-packed codes ("pack-quantized") otherwise (embeddings always: vLLM's embedding reader only
// registers weight_packed).
bool ct_int8_weights(const quant::WeightScheme& scheme, bool static_inputs, bool embedding);

// Bytes of one quantized [rows, cols] module in compressed-tensors: its weights (as above), scales,
// weight_shape (packed only) and one float32 scale per static activation (input, output).
int64_t ct_module_bytes(const quant::WeightScheme& scheme, int64_t rows, int64_t cols, bool static_inputs,
                        bool static_outputs, bool embedding);

// FormatError naming the module for a GGUF footprint of a scheme GGUF has no type for.
MemoryFootprint memory_footprint(const Gemma4Config& cfg, const ResolvedRecipe& recipe, StorageFormat format,
                                 int64_t context);

}  // namespace gq
