#include <nlohmann/json.hpp>

#include "model/gemma4_config.h"

namespace gq {
namespace {

nlohmann::json rope_json(const RopeParams& r) {
  nlohmann::json j = {{"rope_type", r.rope_type}, {"rope_theta", r.rope_theta}};
  if (r.rope_type == "proportional") j["partial_rotary_factor"] = r.partial_rotary_factor;
  if (r.factor != 1.0) j["factor"] = r.factor;
  return j;
}

}  // namespace

std::string Gemma4Config::to_causal_lm_json() const {
  using nlohmann::json;
  json j;
  j["architectures"] = {"Gemma4ForCausalLM"};
  j["model_type"] = "gemma4_text";
  j["dtype"] = dtype;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["attention_k_eq_v"] = attention_k_eq_v;
  j["hidden_activation"] = hidden_activation;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["pad_token_id"] = pad_token_id;
  j["eos_token_id"] = eos_token_id;
  j["bos_token_id"] = bos_token_id;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["rope_parameters"] = {{"sliding_attention", rope_json(rope_sliding)}, {"full_attention", rope_json(rope_full)}};
  j["attention_bias"] = attention_bias;
  j["sliding_window"] = sliding_window;
  json types = json::array();
  for (LayerType t : layer_types) types.push_back(layer_type_name(t));
  j["layer_types"] = types;
  j["final_logit_softcapping"] = final_logit_softcapping ? json(*final_logit_softcapping) : json(nullptr);
  j["use_bidirectional_attention"] = use_bidirectional_attention.empty() ? json(nullptr) : json(use_bidirectional_attention);
  j["vocab_size_per_layer_input"] = vocab_size_per_layer_input;
  j["hidden_size_per_layer_input"] = hidden_size_per_layer_input;
  j["num_kv_shared_layers"] = num_kv_shared_layers;
  j["use_double_wide_mlp"] = use_double_wide_mlp;
  j["enable_moe_block"] = enable_moe_block;
  j["num_experts"] = enable_moe_block ? json(num_experts) : json(nullptr);
  j["top_k_experts"] = enable_moe_block ? json(top_k_experts) : json(nullptr);
  j["moe_intermediate_size"] = enable_moe_block ? json(moe_intermediate_size) : json(nullptr);
  json plc = json::object();
  for (int64_t i = 0; i < num_hidden_layers; ++i) {
    json o = json::object();
    if (layer_head_dim[size_t(i)] != head_dim) o["head_dim"] = layer_head_dim[size_t(i)];
    if (layer_kv_heads[size_t(i)] != num_key_value_heads) o["num_key_value_heads"] = layer_kv_heads[size_t(i)];
    if (!o.empty()) plc[std::to_string(i)] = o;
  }
  j["per_layer_config"] = plc;
  return j.dump(2) + "\n";
}

}  // namespace gq
