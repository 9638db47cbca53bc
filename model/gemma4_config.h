// Gemma 4 text-decoder configuration as Hugging Face's Gemma4TextConfig resolves it, plus the
// per-layer facts the rest of the toolkit derives from it (head dims, KV heads, MLP widths, KV
// donors). Reads both `Gemma4ForCausalLM` (text fields at the top, weights under `model.`) and the
// multimodal `Gemma4ForConditionalGeneration` (`text_config`, weights under `model.language_model.`).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gq {

// The largest dimension, count or length a config.json may give (2^24: 64x Gemma 4's vocabulary):
// larger values are refused before anything is sized from them.
constexpr int64_t kMaxConfigSize = int64_t(1) << 24;

enum class LayerType { Sliding, Full };
const char* layer_type_name(LayerType t);  // "sliding_attention" / "full_attention"

struct RopeParams {
  std::string rope_type = "default";  // "default" or "proportional"
  double rope_theta = 10000.0;
  double partial_rotary_factor = 1.0;  // proportional only
  double factor = 1.0;                 // divides inv_freq (proportional only; 1 in releases)
};

struct Gemma4Config {
  // Where it came from.
  std::string source;          // file the config was read from, for messages
  std::string architecture;    // first entry of "architectures", or "" if absent
  std::string weight_prefix;   // "model." or "model.language_model."
  std::string dtype = "bfloat16";  // "dtype"/"torch_dtype" of the checkpoint

  int64_t vocab_size = 262144;
  int64_t hidden_size = 2304;
  int64_t intermediate_size = 9216;
  int64_t num_hidden_layers = 30;
  int64_t num_attention_heads = 8;
  int64_t num_key_value_heads = 4;
  int64_t head_dim = 256;
  int64_t global_head_dim = 512;
  std::optional<int64_t> num_global_key_value_heads;
  bool attention_k_eq_v = false;
  std::string hidden_activation = "gelu_pytorch_tanh";
  int64_t max_position_embeddings = 131072;
  double rms_norm_eps = 1e-6;
  int64_t pad_token_id = 0, eos_token_id = 1, bos_token_id = 2;
  bool tie_word_embeddings = true;
  RopeParams rope_sliding{"default", 10000.0, 1.0, 1.0};
  RopeParams rope_full{"proportional", 1000000.0, 0.25, 1.0};
  bool attention_bias = false;
  int64_t sliding_window = 512;
  std::vector<LayerType> layer_types;
  std::optional<double> final_logit_softcapping;
  std::string use_bidirectional_attention;  // "" (null), "vision" or "all"
  int64_t vocab_size_per_layer_input = 262144;
  int64_t hidden_size_per_layer_input = 256;  // HF default: PLE on unless set to 0/null
  int64_t num_kv_shared_layers = 0;
  bool use_double_wide_mlp = false;
  bool enable_moe_block = false;
  int64_t num_experts = 0, top_k_experts = 0, moe_intermediate_size = 0;

  // Derived per layer (filled by resolve()).
  std::vector<int64_t> layer_head_dim;
  std::vector<int64_t> layer_kv_heads;
  std::vector<int64_t> layer_intermediate;
  std::vector<int> kv_donor;  // -1: the layer computes its own K/V; else the layer whose K/V it reads

  // Reads config.json (a file, or a folder containing one). Throws FormatError naming the file and
  // the key on a missing required field, a wrong JSON type, an unknown model_type or an
  // inconsistent value.
  static Gemma4Config load(const std::string& path_or_dir);
  static Gemma4Config parse(const std::string& json_text, const std::string& source);
  // A `Gemma4ForCausalLM` config.json (text fields at the top level, weights under "model."), with
  // per-layer head dims / KV heads as transformers 5.x writes them (`per_layer_config`). parse() of
  // the result gives back an equal config.
  std::string to_causal_lm_json() const;

  int64_t L() const { return num_hidden_layers; }
  bool is_sliding(int64_t layer) const { return layer_types[size_t(layer)] == LayerType::Sliding; }
  bool has_ple() const { return hidden_size_per_layer_input > 0; }
  int64_t first_kv_shared_layer() const { return num_hidden_layers - num_kv_shared_layers; }
  bool is_kv_shared(int64_t layer) const { return kv_donor[size_t(layer)] >= 0; }
  // Full layers in K=V mode have no v_proj: V is the raw K projection.
  bool has_v_proj(int64_t layer) const { return !(attention_k_eq_v && !is_sliding(layer)); }
  const RopeParams& rope(int64_t layer) const { return is_sliding(layer) ? rope_sliding : rope_full; }
  // llama.cpp reuses K/V of layer first_shared-2 (sliding) / first_shared-1 (full); that equals HF's
  // donor rule only for some layouts. Empty string when they agree, else the reason.
  std::string llama_cpp_kv_sharing_problem() const;

 private:
  void resolve();
};

}  // namespace gq
