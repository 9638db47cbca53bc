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

Recipe gguf_type_recipe(GgmlType type) {
  if (type != GgmlType::Q8_0 && type != GgmlType::Q4_0 && type != GgmlType::Q2_0)
    throw FormatError(std::string("--type ") + ggml_type_name(type) + ": the GGUF exporter writes f32, f16, bf16, q8_0, q4_0 or q2_0");
  std::string scheme = ggml_type_name(type);
  for (char& ch : scheme) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return Recipe::parse(
      R"({"name": ")" + scheme + R"(", "weights": [{"targets": ["Linear", "Experts", "Embedding", "lm_head"], "scheme": ")" + scheme +
          R"("}], "ignore": ["Router", "per_layer_model_projection"], "unquantized_dtype": "f16"})",
      "--type " + scheme);
}

GgmlType gguf_float_type(DType t) {
  switch (t) {
    case DType::F32: return GgmlType::F32;
    case DType::F16: return GgmlType::F16;
    case DType::BF16: return GgmlType::BF16;
    default: throw FormatError(std::string("float dtype ") + dtype_name(t) + ": GGUF stores floats as F32, F16 or BF16");
  }
}

GgufTensorTypes gguf_types(const Gemma4Config& cfg, const ResolvedRecipe& rr, bool nearest, const std::string& what) {
  const std::vector<QuantTarget> targets = gemma4_quant_targets(cfg);
  GgufTensorTypes p;
  p.recipe = rr.weights.empty() && !rr.has_static_activations() && !rr.kv_cache ? "" : rr.name;
  p.untie_head = rr.untie_head;
  p.float_dtype = rr.float_dtype;
  p.unquantized = gguf_float_type(rr.float_dtype);
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
        throw FormatError(what + ": " + module + ": GGUF keeps the MoE router in F32 (llama.cpp's converter forces it)" + hint);
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
      throw FormatError(what + ": " + module + ": scheme " + quant::weight_scheme_name(scheme) +
                        " has no GGUF type (GGUF stores Q8_0 / Q4_0 / Q2_0 blocks with one fp16 scale per block)" + hint);
    p.modules[module] = near;
    ++mapped[quant::weight_scheme_name(scheme) + " -> " + ggml_type_name(near) + " (ggml's RTN block scales)"];
  }
  for (const auto& [mapping, n] : mapped)
    p.warnings.push_back(what + ": " + mapping + " on " + std::to_string(n) + " module" + (n == 1 ? "" : "s"));

  if (!rr.activations.empty()) {
    const std::string s = quant::activation_scheme_name(rr.activations.begin()->second);
    if (!nearest)
      throw FormatError(what + ": static input activations (" + s + " on " + std::to_string(rr.activations.size()) +
                        " modules) cannot be stored in GGUF: llama.cpp quantizes activations itself, per block at run time" + hint);
    p.warnings.push_back(what + ": static input activation scales (" + s + ", " + std::to_string(rr.activations.size()) +
                         " modules) are not stored: llama.cpp quantizes activations to Q8_0 blocks at run time");
  }
  if (!rr.output_activations.empty()) {
    const std::string s = quant::activation_scheme_name(rr.output_activations.begin()->second);
    if (!nearest)
      throw FormatError(what + ": static output activations (" + s + " on " + std::to_string(rr.output_activations.size()) +
                        " modules) cannot be stored in GGUF: llama.cpp does not quantize matmul outputs" + hint);
    p.warnings.push_back(what + ": static output activation scales (" + s + ", " + std::to_string(rr.output_activations.size()) +
                         " modules) are not stored: llama.cpp keeps matmul outputs in float");
  }
  if (rr.kv_cache) {
    // The KV cache type is a llama.cpp run-time option: kv_q8_0 / kv_q4_0 are exactly its -ctk /
    // -ctv caches; kv_int8 / kv_int4 (a float32 scale per token and head) have no llama.cpp twin.
    const quant::KvScheme& k = *rr.kv_cache;
    const std::string s = quant::kv_scheme_name(k);
    const std::string flag = k.bits == 4 ? "q4_0" : "q8_0";
    const std::string run_with = "run llama.cpp with -ctk " + flag + " -ctv " + flag + " (a quantized V cache needs flash attention)";
    if (k.ggml_blocks) {
      p.warnings.push_back(what + ": kv_cache " + s + " is a llama.cpp run-time option, not stored in the file: " + run_with);
    } else {
      if (!nearest)
        throw FormatError(what + ": kv_cache " + s + " (one scale per token and head) has no llama.cpp cache type; train with "
                          "kv_cache kv_" + flag + " (llama.cpp's -ctk " + flag + ": blocks of 32, fp16 scale)" + hint);
      p.warnings.push_back(what + ": kv_cache " + s + " is not stored and llama.cpp has no such cache; the nearest: " + run_with +
                           " (blocks of 32 with an fp16 scale, not what the run simulated)");
    }
  }
  return p;
}

}  // namespace gq
