#include "recipes/memory_footprint.h"

#include "model/gemma4_tensors.h"
#include "model/quant_targets.h"
#include "quant/ggml_types.h"

namespace gq {
namespace {

int64_t dtype_bytes(DType t) { return int64_t(dtype_size(t)); }

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

int64_t quantized_weight_bytes(const quant::WeightScheme& s, int64_t rows, int64_t cols) {
  if (s.is_gguf()) {
    const GgmlTypeInfo& t = *ggml_type_info(s.ggml_type());
    return rows * (cols / t.block) * int64_t(t.block_bytes);
  }
  const int64_t groups = s.scales_per_row(cols);
  int64_t bytes = rows * ceil_div(cols * s.bits, 8) + rows * groups * dtype_bytes(s.scale_dtype);
  if (!s.symmetric) bytes += ceil_div(rows * s.bits, 32) * 4 * groups;  // int32-packed along the output dim
  return bytes;
}

MemoryFootprint memory_footprint(const Gemma4Config& cfg, const ResolvedRecipe& recipe, int64_t context) {
  MemoryFootprint fp;
  fp.context = context;
  std::map<std::string, std::string> tensor_to_module;
  for (const QuantTarget& t : gemma4_quant_targets(cfg))
    if (!t.tensor.empty()) tensor_to_module[t.tensor] = t.name;

  const std::string unq = recipe.unquantized_bytes == 4 ? "f32" : "bf16/f16";
  auto add = [&](const std::string& comp, const std::string& scheme, int64_t params, int64_t bytes) {
    fp.components[comp].params += params;
    fp.components[comp].bytes += bytes;
    fp.total.params += params;
    fp.total.bytes += bytes;
    fp.scheme_params[scheme] += params;
  };
  for (const TensorSpec& s : gemma4_tensor_specs(cfg)) {
    if (s.unused) continue;
    const std::string comp = s.name == "lm_head.weight" ? "output head" : component_name(s.component);
    auto mod = tensor_to_module.find(s.name);
    const auto scheme = mod == tensor_to_module.end() ? recipe.weights.end() : recipe.weights.find(mod->second);
    int64_t bytes;
    std::string scheme_name;
    if (scheme != recipe.weights.end()) {
      const int64_t cols = s.shape.back();
      bytes = quantized_weight_bytes(scheme->second, s.numel() / cols, cols);
      scheme_name = quant::weight_scheme_name(scheme->second);
    } else if (s.shape.size() == 1) {
      bytes = s.numel() * 4;  // norms and scalars stay float32 in every format
      scheme_name = "f32";
    } else {
      bytes = s.numel() * recipe.unquantized_bytes;
      scheme_name = unq;
    }
    add(comp, scheme_name, s.numel(), bytes);
    if (s.component == Component::PerLayerEmbedding) fp.ple_table_bytes += bytes;
  }
  if (recipe.untie_head && cfg.tie_word_embeddings) {
    const quant::WeightScheme& hs = recipe.weights.at("lm_head");
    add("output head", quant::weight_scheme_name(hs), cfg.vocab_size * cfg.hidden_size,
        quantized_weight_bytes(hs, cfg.vocab_size, cfg.hidden_size));
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
