#include "recipes/memory_footprint.h"

#include <cctype>
#include <set>

#include "io/error.h"
#include "model/gemma4_tensors.h"
#include "model/quant_targets.h"
#include "quant/ggml_types.h"
#include "quant/packing.h"

namespace gq {
namespace {

int64_t dtype_bytes(DType t) { return int64_t(dtype_size(t)); }

std::string float_name(DType t) {
  std::string s = dtype_name(t);
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A quantized spec tensor in compressed-tensors: one module, or an MoE bank [E, R, C] split per
// expert (gate_up_proj into gate and up halves) as vLLM loads it.
int64_t ct_quantized_bytes(const TensorSpec& spec, const std::string& module, const quant::WeightScheme& s,
                           const ResolvedRecipe& recipe, bool embedding) {
  const bool in = recipe.activations.count(module) != 0, out = recipe.output_activations.count(module) != 0;
  if (spec.shape.size() == 2) return ct_module_bytes(s, spec.shape[0], spec.shape[1], in, out, embedding);
  const int64_t E = spec.shape[0], R = spec.shape[1], C = spec.shape[2];
  const bool gate_up = module.size() >= 12 && module.compare(module.size() - 12, 12, "gate_up_proj") == 0;
  return gate_up ? E * 2 * ct_module_bytes(s, R / 2, C, in, out, false) : E * ct_module_bytes(s, R, C, in, out, false);
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

bool ct_int8_weights(const quant::WeightScheme& s, bool static_inputs, bool embedding) {
  return static_inputs && !embedding && s.bits == 8 && s.kind == quant::WeightKind::kChannel;
}

int64_t ct_module_bytes(const quant::WeightScheme& s, int64_t rows, int64_t cols, bool static_inputs,
                        bool static_outputs, bool embedding) {
  const int64_t act_scales = 4 * (int64_t(static_inputs) + int64_t(static_outputs));
  if (ct_int8_weights(s, static_inputs, embedding)) return rows * cols + rows * dtype_bytes(s.scale_dtype) + act_scales;
  return quantized_weight_bytes(s, rows, cols) + 2 * 8 + act_scales;
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
  std::set<std::string> embeddings;
  for (const QuantTarget& t : gemma4_quant_targets(cfg)) {
    if (!t.tensor.empty()) tensor_to_module[t.tensor] = t.name;
    if (t.kind == TargetKind::Embedding) embeddings.insert(t.name);
  }

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
                   : ct_quantized_bytes(s, mod->second, scheme->second, recipe, embeddings.count(mod->second) != 0);
      scheme_name = quant::weight_scheme_name(scheme->second);
    } else {
      bytes = s.numel() * float_bytes;
      scheme_name = float_name(recipe.float_dtype);
    }
    add(comp, scheme_name, s.numel(), bytes);
    if (mod != tensor_to_module.end()) fp.module_bytes[mod->second] += bytes;
    if (s.component == Component::PerLayerEmbedding) fp.ple_table_bytes += bytes;
  }
  // A second copy of the table for a tied model: quantized with the head's own scheme, or float when
  // the head is ignored; compressed-tensors also for a head sharing the table's scheme (vLLM cannot
  // tie a head to a quantized table).
  if (cfg.tie_word_embeddings && (recipe.untie_head || (!gguf && recipe.weights.count("lm_head")))) {
    const int64_t n = cfg.vocab_size * cfg.hidden_size;
    auto hs = recipe.weights.find("lm_head");
    int64_t bytes;
    if (hs == recipe.weights.end()) {
      bytes = n * float_bytes;
      add("output head", float_name(recipe.float_dtype), n, bytes);
    } else {
      check_gguf("lm_head", hs->second);
      bytes = gguf ? quantized_weight_bytes(hs->second, cfg.vocab_size, cfg.hidden_size)
                   : ct_module_bytes(hs->second, cfg.vocab_size, cfg.hidden_size, recipe.activations.count("lm_head") != 0,
                                     recipe.output_activations.count("lm_head") != 0, false);
      add("output head", quant::weight_scheme_name(hs->second), n, bytes);
    }
    fp.module_bytes["lm_head"] += bytes;
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
    // Unquantized: llama.cpp's f16 and vLLM's bf16 caches; quantized: the scheme's codes and scales.
    const int64_t row_bytes = recipe.kv_cache ? recipe.kv_cache->row_bytes(hd) : hd * 2;
    fp.kv_cache_bytes += 2 * tokens * kv * row_bytes;
  }
  return fp;
}

}  // namespace gq
