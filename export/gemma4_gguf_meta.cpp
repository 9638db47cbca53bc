#include "export/gemma4_gguf_meta.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "io/error.h"

namespace gq {

namespace {

// Head dim / KV heads of the first layer of each type (check_llama_cpp_gemma4 makes them uniform).
int64_t first_of(const Gemma4Config& c, bool sliding, const std::vector<int64_t>& v, int64_t dflt) {
  for (int64_t i = 0; i < c.L(); ++i)
    if (c.is_sliding(i) == sliding) return v[size_t(i)];
  return dflt;
}

bool has_type(const Gemma4Config& c, bool sliding) {
  for (int64_t i = 0; i < c.L(); ++i)
    if (c.is_sliding(i) == sliding) return true;
  return false;
}

uint32_t u32_of(const Gemma4Config& c, const char* key, int64_t v) {
  if (v < 0 || v > int64_t(UINT32_MAX))
    throw FormatError(c.source + ": " + key + " = " + std::to_string(v) + " does not fit GGUF's UINT32");
  return uint32_t(v);
}

}  // namespace

void check_llama_cpp_gemma4(const Gemma4Config& c) {
  const std::string at = c.source + ": cannot be exported to GGUF: ";
  const std::string kv = c.llama_cpp_kv_sharing_problem();
  if (!kv.empty()) throw FormatError(at + "KV sharing: " + kv);
  for (bool sliding : {true, false}) {
    std::set<int64_t> dims;
    for (int64_t i = 0; i < c.L(); ++i)
      if (c.is_sliding(i) == sliding) dims.insert(c.layer_head_dim[size_t(i)]);
    if (dims.size() > 1)
      throw FormatError(at + (sliding ? "sliding" : "full") +
                        " layers have different head dims (GGUF has one key_length per layer type)");
  }
  const RopeParams& rs = c.rope_sliding;
  if (has_type(c, true) && rs.rope_type == "proportional" && (rs.partial_rotary_factor != 1.0 || rs.factor != 1.0))
    throw FormatError(at + "proportional RoPE on sliding layers (llama.cpp applies rope_freqs to full layers only)");
  if (c.has_ple() && c.vocab_size_per_layer_input != c.vocab_size)
    throw FormatError(at + "vocab_size_per_layer_input " + std::to_string(c.vocab_size_per_layer_input) +
                      " != vocab_size " + std::to_string(c.vocab_size) +
                      " (llama.cpp needs one per-layer-embedding row per token)");
  if (c.enable_moe_block && (c.num_experts <= 0 || c.top_k_experts <= 0 || c.moe_intermediate_size <= 0))
    throw FormatError(at + "MoE block without num_experts / top_k_experts / moe_intermediate_size");
}

std::vector<float> gemma4_rope_freqs(const Gemma4Config& c) {
  const int64_t hd = first_of(c, false, c.layer_head_dim, c.global_head_dim);
  const RopeParams& r = c.rope_full;
  const int64_t half = hd / 2;
  // Same rule as the model's inv_freq (qat/gemma4_model.cpp): int(prf * hd) / 2 pairs rotate.
  int64_t rotated = half;
  float ff = 1.0f;
  if (r.rope_type == "proportional") {
    rotated = int64_t(r.partial_rotary_factor * double(hd)) / 2;
    ff = float(r.factor);
  }
  std::vector<float> out(size_t(half), 1e30f);
  for (int64_t j = 0; j < rotated; ++j) out[size_t(j)] = ff;
  return out;
}

uint32_t llama_file_type(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::Q4_0: return 2;
    case GgmlType::Q8_0: return 7;
    case GgmlType::BF16: return 32;
    case GgmlType::Q2_0: return 41;
    default: throw FormatError(std::string("no llama.cpp file type for ") + ggml_type_name(t));
  }
}

GgufMetadata gemma4_metadata(const Gemma4Config& c, const std::string& name, uint32_t file_type,
                             const std::string& generation_config) {
  check_llama_cpp_gemma4(c);
  const std::string A = "gemma4.";
  GgufMetadata kv;
  auto add = [&](const std::string& k, GgufValue v) { kv.emplace_back(k, std::move(v)); };
  auto u32 = [&](const std::string& k, const char* what, int64_t v) { add(k, GgufValue::u32(u32_of(c, what, v))); };
  // A per-layer quantity is an INT32 array when it varies, a UINT32 otherwise (as the converter writes).
  auto per_layer = [&](const std::string& k, const char* what, const std::vector<int64_t>& v) {
    if (std::set<int64_t>(v.begin(), v.end()).size() == 1) return u32(k, what, v[0]);
    std::vector<int32_t> a;
    for (int64_t x : v) a.push_back(int32_t(u32_of(c, what, x)));
    add(k, GgufValue::i32_array(a));
  };

  add("general.architecture", GgufValue::str("gemma4"));
  add("general.name", GgufValue::str(name));
  add("general.file_type", GgufValue::u32(file_type));
  add("general.quantization_version", GgufValue::u32(2));

  const int64_t hd_full = first_of(c, false, c.layer_head_dim, c.global_head_dim);
  const int64_t hd_swa = first_of(c, true, c.layer_head_dim, hd_full);
  u32(A + "context_length", "max_position_embeddings", c.max_position_embeddings);
  u32(A + "embedding_length", "hidden_size", c.hidden_size);
  u32(A + "block_count", "num_hidden_layers", c.L());
  per_layer(A + "feed_forward_length", "intermediate_size", c.layer_intermediate);
  u32(A + "attention.head_count", "num_attention_heads", c.num_attention_heads);
  per_layer(A + "attention.head_count_kv", "num_key_value_heads", c.layer_kv_heads);
  u32(A + "attention.key_length", "global_head_dim", hd_full);
  u32(A + "attention.value_length", "global_head_dim", hd_full);
  u32(A + "attention.key_length_swa", "head_dim", hd_swa);
  u32(A + "attention.value_length_swa", "head_dim", hd_swa);
  // Full layers rotate the whole head in ggml terms; rope_freqs switches the unrotated pairs off.
  u32(A + "rope.dimension_count", "global_head_dim", hd_full);
  u32(A + "rope.dimension_count_swa", "head_dim", hd_swa);
  add(A + "rope.freq_base", GgufValue::f32(float(c.rope_full.rope_theta)));
  add(A + "rope.freq_base_swa", GgufValue::f32(float(c.rope_sliding.rope_theta)));
  add(A + "attention.layer_norm_rms_epsilon", GgufValue::f32(float(c.rms_norm_eps)));
  u32(A + "attention.sliding_window", "sliding_window", c.sliding_window);
  std::vector<bool> pattern;
  for (int64_t i = 0; i < c.L(); ++i) pattern.push_back(c.is_sliding(i));
  add(A + "attention.sliding_window_pattern", GgufValue::bool_array(pattern));
  u32(A + "attention.shared_kv_layers", "num_kv_shared_layers", c.num_kv_shared_layers);
  u32(A + "embedding_length_per_layer_input", "hidden_size_per_layer_input", c.has_ple() ? c.hidden_size_per_layer_input : 0);
  // Always written: without the key llama.cpp applies a softcap of 30.
  add(A + "final_logit_softcapping", GgufValue::f32(float(c.final_logit_softcapping.value_or(0.0))));
  if (c.enable_moe_block) {
    u32(A + "expert_count", "num_experts", c.num_experts);
    u32(A + "expert_used_count", "top_k_experts", c.top_k_experts);
    u32(A + "expert_feed_forward_length", "moe_intermediate_size", c.moe_intermediate_size);
  }

  std::error_code ec;
  if (!generation_config.empty() && std::filesystem::is_regular_file(generation_config, ec)) {
    std::ifstream f(generation_config);
    std::ostringstream ss;
    ss << f.rdbuf();
    nlohmann::json g;
    try {
      g = nlohmann::json::parse(ss.str());
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(generation_config + ": malformed JSON: " + e.what());
    }
    if (g.is_object()) {
      if (g.contains("top_k") && g["top_k"].is_number_integer())
        add("general.sampling.top_k", GgufValue::i32(g["top_k"].get<int32_t>()));
      if (g.contains("top_p") && g["top_p"].is_number()) add("general.sampling.top_p", GgufValue::f32(g["top_p"].get<float>()));
      if (g.contains("temperature") && g["temperature"].is_number())
        add("general.sampling.temp", GgufValue::f32(g["temperature"].get<float>()));
    }
  }
  return kv;
}

}  // namespace gq
