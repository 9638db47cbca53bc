#include "recipes/memory_footprint.h"

#include <cctype>

#include "io/error.h"
#include "model/gemma4_tensors.h"
#include "model/quant_targets.h"
#include "quant/ggml_types.h"
#include "quant/packing.h"

namespace gq {
namespace {

int64_t dtype_bytes(DType t) { return int64_t(dtype_size(t)); }

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::string float_name(DType t) {
  std::string s = dtype_name(t);
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One output Linear of a compressed-tensors file: int8 weights with a float32 input_scale (W8A8),
// or pack-quantized with its int64[2] weight_shape.
int64_t ct_linear_bytes(const quant::WeightScheme& s, int64_t rows, int64_t cols, bool int8_inputs) {
  if (int8_inputs) return rows * cols + rows * dtype_bytes(s.scale_dtype) + 4;
  return quantized_weight_bytes(s, rows, cols) + 2 * 8;
}

// A quantized spec tensor in compressed-tensors: one Linear, or an MoE bank [E, R, C] split per
// expert (gate_up_proj into gate and up halves) as vLLM loads it.
int64_t ct_quantized_bytes(const TensorSpec& spec, const std::string& module, const quant::WeightScheme& s,
                           bool int8_inputs) {
  if (spec.shape.size() == 2) return ct_linear_bytes(s, spec.shape[0], spec.shape[1], int8_inputs);
  const int64_t E = spec.shape[0], R = spec.shape[1], C = spec.shape[2];
  const bool gate_up = module.size() >= 12 && module.compare(module.size() - 12, 12, "gate_up_proj") == 0;
  return gate_up ? E * 2 * ct_linear_bytes(s, R / 2, C, int8_inputs) : E * ct_linear_bytes(s, R, C, int8_inputs);
}

}  // namespace

const char* storage_format_name(StorageFormat f) { return f == StorageFormat::Gguf ? "gguf" : "compressed-tensors"; }

std::optional<StorageFormat> storage_format_from_name(const std::string& name) {
  if (name == "gguf") return StorageFormat::Gguf;
  if (name == "compressed-tensors") return StorageFormat::CompressedTensors;
  return std::nullopt;
}

StorageFormat default_storage_format(const ResolvedRecipe& recipe) {
  if (recipe.weights.empty()) return StorageFormat::CompressedTensors;
  for (const auto& [module, s] : recipe.weights)
    if (!s.is_gguf()) return StorageFormat::CompressedTensors;
  return StorageFormat::Gguf;
}

int64_t quantized_weight_bytes(const quant::WeightScheme& s, int64_t rows, int64_t cols) {
  if (s.is_gguf()) {
    const GgmlTypeInfo& t = *ggml_type_info(s.ggml_type());
    return rows * (cols / t.block) * int64_t(t.block_bytes);
  }
  const int64_t groups = s.scales_per_row(cols);
  int64_t bytes = rows * quant::ct_packed_cols(cols, s.bits) * 4 + rows * groups * dtype_bytes(s.scale_dtype);
  if (!s.symmetric) bytes += quant::ct_packed_cols(rows, s.bits) * 4 * groups;  // int32-packed along the output dim
  return bytes;
}

MemoryFootprint memory_footprint(const Gemma4Config& cfg, const ResolvedRecipe& recipe, StorageFormat format,
                                 int64_t context) {
  const bool gguf = format == StorageFormat::Gguf;
  MemoryFootprint fp;
  fp.format = format;
  fp.context = context;
  std::map<std::string, std::string> tensor_to_module;
  for (const QuantTarget& t : gemma4_quant_targets(cfg))
    if (!t.tensor.empty()) tensor_to_module[t.tensor] = t.name;

  const int64_t float_bytes = dtype_bytes(recipe.float_dtype);
  auto add = [&](const std::string& comp, const std::string& scheme, int64_t params, int64_t bytes) {
    fp.components[comp].params += params;
    fp.components[comp].bytes += bytes;
    fp.total.params += params;
    fp.total.bytes += bytes;
    if (params) fp.scheme_params[scheme] += params;
  };
  auto check_gguf = [&](const std::string& module, const quant::WeightScheme& s) {
    if (gguf && !s.is_gguf())
      throw FormatError("recipe '" + recipe.name + "': " + module + ": scheme " + quant::weight_scheme_name(s) +
                        " has no GGUF type (export --nearest maps it to the nearest block type); plan it as "
                        "compressed-tensors");
  };
  for (const TensorSpec& s : gemma4_tensor_specs(cfg)) {
    if (s.unused) continue;
    const std::string comp = s.name == "lm_head.weight" ? "output head" : component_name(s.component);
    auto mod = tensor_to_module.find(s.name);
    const auto scheme = mod == tensor_to_module.end() ? recipe.weights.end() : recipe.weights.find(mod->second);
    const bool gguf_f32 = gguf && (s.shape.size() == 1 || s.component == Component::Router);
    int64_t bytes;
    std::string scheme_name;
    if (gguf_f32) {
      bytes = s.numel() * 4;  // llama.cpp keeps norms, scalars and the router in F32
      scheme_name = "f32";
    } else if (scheme != recipe.weights.end()) {
      check_gguf(mod->second, scheme->second);
      const int64_t cols = s.shape.back();
      bytes = gguf ? quantized_weight_bytes(scheme->second, s.numel() / cols, cols)
                   : ct_quantized_bytes(s, mod->second, scheme->second, recipe.activations.count(mod->second) != 0);
      scheme_name = quant::weight_scheme_name(scheme->second);
    } else {
      bytes = s.numel() * float_bytes;
      scheme_name = float_name(recipe.float_dtype);
    }
    add(comp, scheme_name, s.numel(), bytes);
    if (s.component == Component::PerLayerEmbedding) fp.ple_table_bytes += bytes;
  }
  if (recipe.untie_head && cfg.tie_word_embeddings) {
    // A second copy of the table: quantized with the head's own scheme, or float when the head is ignored.
    const int64_t n = cfg.vocab_size * cfg.hidden_size;
    auto hs = recipe.weights.find("lm_head");
    if (hs == recipe.weights.end()) {
      add("output head", float_name(recipe.float_dtype), n, n * float_bytes);
    } else {
      check_gguf("lm_head", hs->second);
      add("output head", quant::weight_scheme_name(hs->second), n,
          gguf ? quantized_weight_bytes(hs->second, cfg.vocab_size, cfg.hidden_size)
               : ct_linear_bytes(hs->second, cfg.vocab_size, cfg.hidden_size, false));
    }
  }
  if (gguf) {
    // rope_freqs: one F32 per rotary pair of the full-attention head dim.
    for (int64_t i = 0; i < cfg.L(); ++i)
      if (!cfg.is_sliding(i)) {
        add("rope", "f32", 0, cfg.layer_head_dim[size_t(i)] / 2 * 4);
        break;
      }
  } else if (recipe.kv_cache) {
    add("kv cache scales", "f32", 0, cfg.L() * 2 * 4);  // k_scale, v_scale per layer
  }

  // KV cache: K and V per non-shared layer; sliding layers hold at most their window.
  for (int64_t i = 0; i < cfg.L(); ++i) {
    if (cfg.is_kv_shared(i)) continue;
    const int64_t hd = cfg.layer_head_dim[size_t(i)], kv = cfg.layer_kv_heads[size_t(i)];
    const int64_t tokens = cfg.is_sliding(i) ? std::min(context, cfg.sliding_window) : context;
    int64_t row_bytes = hd * 2;  // f16 cache
    if (recipe.kv_cache) row_bytes = ceil_div(hd * recipe.kv_cache->bits, 8) + 2;  // codes + fp16 scale per row
    fp.kv_cache_bytes += 2 * tokens * kv * row_bytes;
  }
  return fp;
}

}  // namespace gq
