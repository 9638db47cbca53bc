#include "export/gguf_types.h"

#include <cctype>

#include "io/error.h"
#include "model/quant_targets.h"

namespace gq {

GgmlType nearest_gguf_type(const quant::WeightScheme& s, int64_t cols) {
  if (s.is_gguf()) return GgmlType(s.ggml_type());
  if (s.bits >= 8) return GgmlType::Q8_0;
  if (s.bits <= 2 && cols % 64 == 0) return GgmlType::Q2_0;
  return GgmlType::Q4_0;
}

GgufTensorTypes gguf_types_for_type(const Gemma4Config& cfg, GgmlType type) {
  switch (type) {
    case GgmlType::F32: case GgmlType::F16: case GgmlType::BF16: {
      GgufTensorTypes p;
      p.unquantized = type;
      return p;
    }
    case GgmlType::Q8_0: case GgmlType::Q4_0: case GgmlType::Q2_0: break;
    default: throw FormatError(std::string("--type ") + ggml_type_name(type) + ": the GGUF exporter writes f32, f16, bf16, q8_0, q4_0 or q2_0");
  }
  std::string scheme = ggml_type_name(type);
  for (char& ch : scheme) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  const Recipe r = Recipe::parse(
      R"({"name": ")" + scheme + R"(", "weights": [{"targets": ["Linear", "Experts", "Embedding", "lm_head"], "scheme": ")" + scheme +
          R"("}], "ignore": ["Router", "per_layer_model_projection"], "unquantized_dtype": "f16"})",
      "--type " + scheme);
  return gguf_types_for_recipe(cfg, r, false);
}

GgufTensorTypes gguf_types_for_recipe(const Gemma4Config& cfg, const Recipe& recipe, bool nearest) {
  const std::vector<QuantTarget> targets = gemma4_quant_targets(cfg);
  const ResolvedRecipe rr = resolve_recipe(recipe, targets);
  GgufTensorTypes p;
  p.recipe = recipe.name;
  p.untie_head = rr.untie_head;
  p.unquantized = recipe.unquantized_dtype == "f32" ? GgmlType::F32
                  : recipe.unquantized_dtype == "f16" ? GgmlType::F16 : GgmlType::BF16;
  const std::string src = "recipe '" + recipe.name + "' (" + recipe.source + ")";
  const std::string hint = "; export it as compressed-tensors, or pass --nearest to store the nearest GGUF equivalent";

  std::map<std::string, const QuantTarget*> by_name;
  for (const QuantTarget& t : targets) by_name[t.name] = &t;
  std::map<std::string, int> mapped;  // "int4_channel -> Q4_0" -> modules
  for (const auto& [module, scheme] : rr.weights) {
    const QuantTarget& t = *by_name.at(module);
    const bool tied_head = t.kind == TargetKind::Head && t.tensor.empty() && !rr.untie_head;
    if (tied_head) continue;  // the head reads token_embd
    if (t.kind == TargetKind::Router) {
      if (!nearest)
        throw FormatError(src + ": " + module + ": GGUF keeps the MoE router in F32 (llama.cpp's converter forces it)" + hint);
      ++mapped[quant::weight_scheme_name(scheme) + " on the router -> F32"];
      continue;
    }
    if (scheme.is_gguf()) {
      p.modules[module] = GgmlType(scheme.ggml_type());
      p.schemes[module] = scheme;
      continue;
    }
    const GgmlType near = nearest_gguf_type(scheme, t.cols);
    if (!nearest)
      throw FormatError(src + ": " + module + ": scheme " + quant::weight_scheme_name(scheme) +
                        " has no GGUF type (GGUF stores Q8_0 / Q4_0 / Q2_0 blocks with one fp16 scale per block)" + hint);
    p.modules[module] = near;
    ++mapped[quant::weight_scheme_name(scheme) + " -> " + ggml_type_name(near) + " (ggml's RTN block scales)"];
  }
  for (const auto& [what, n] : mapped)
    p.warnings.push_back(src + ": " + what + " on " + std::to_string(n) + " module" + (n == 1 ? "" : "s"));

  if (!rr.activations.empty()) {
    const std::string s = quant::activation_scheme_name(rr.activations.begin()->second);
    if (!nearest)
      throw FormatError(src + ": static input activations (" + s + " on " + std::to_string(rr.activations.size()) +
                        " modules) cannot be stored in GGUF: llama.cpp quantizes activations itself, per block at run time" + hint);
    p.warnings.push_back(src + ": static input activation scales (" + s + ", " + std::to_string(rr.activations.size()) +
                         " modules) are not stored: llama.cpp quantizes activations to Q8_0 blocks at run time");
  }
  if (rr.kv_cache) {
    const std::string s = quant::kv_scheme_name(*rr.kv_cache);
    const std::string flag = rr.kv_cache->bits == 4 ? "q4_0" : "q8_0";
    if (!nearest)
      throw FormatError(src + ": kv_cache " + s + " cannot be stored in GGUF (the KV cache type is a llama.cpp run-time option)" + hint);
    p.warnings.push_back(src + ": kv_cache " + s + " is not stored in the file: run llama.cpp with -ctk " + flag + " -ctv " + flag +
                         " (a quantized V cache needs flash attention)");
  }
  return p;
}

}  // namespace gq
