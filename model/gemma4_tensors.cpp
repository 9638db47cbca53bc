#include "model/gemma4_tensors.h"

namespace gq {

const char* component_name(Component c) {
  switch (c) {
    case Component::Embedding: return "embeddings";
    case Component::PerLayerEmbedding: return "per-layer emb table";
    case Component::PerLayerProjection: return "per-layer emb proj";
    case Component::Attention: return "attention";
    case Component::Mlp: return "mlp";
    case Component::Experts: return "experts";
    case Component::Router: return "router";
    case Component::Norm: return "norms";
  }
  return "?";
}

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<TensorSpec> gemma4_tensor_specs(const Gemma4Config& c) {
  const int64_t H = c.hidden_size, V = c.vocab_size, L = c.L(), P = c.hidden_size_per_layer_input;
  const int64_t nH = c.num_attention_heads;
  std::vector<TensorSpec> out;
  auto add = [&](std::string name, std::vector<int64_t> shape, Component comp, int layer = -1, bool unused = false) {
    out.push_back(TensorSpec{std::move(name), std::move(shape), comp, layer, unused});
  };

  add("embed_tokens.weight", {V, H}, Component::Embedding);
  if (c.has_ple()) {
    add("embed_tokens_per_layer.weight", {c.vocab_size_per_layer_input, L * P}, Component::PerLayerEmbedding);
    add("per_layer_model_projection.weight", {L * P, H}, Component::PerLayerProjection);
    add("per_layer_projection_norm.weight", {P}, Component::Norm);
  }
  for (int64_t i = 0; i < L; ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    const int li = int(i);
    const int64_t hd = c.layer_head_dim[size_t(i)], kv = c.layer_kv_heads[size_t(i)], I = c.layer_intermediate[size_t(i)];
    const bool shared = c.is_kv_shared(i);
    add(p + "input_layernorm.weight", {H}, Component::Norm, li);
    add(p + "self_attn.q_proj.weight", {nH * hd, H}, Component::Attention, li);
    add(p + "self_attn.q_norm.weight", {hd}, Component::Norm, li);
    add(p + "self_attn.k_proj.weight", {kv * hd, H}, Component::Attention, li, shared);
    if (c.has_v_proj(i)) add(p + "self_attn.v_proj.weight", {kv * hd, H}, Component::Attention, li, shared);
    add(p + "self_attn.k_norm.weight", {hd}, Component::Norm, li, shared);
    add(p + "self_attn.o_proj.weight", {H, nH * hd}, Component::Attention, li);
    add(p + "post_attention_layernorm.weight", {H}, Component::Norm, li);
    add(p + "pre_feedforward_layernorm.weight", {H}, Component::Norm, li);
    add(p + "mlp.gate_proj.weight", {I, H}, Component::Mlp, li);
    add(p + "mlp.up_proj.weight", {I, H}, Component::Mlp, li);
    add(p + "mlp.down_proj.weight", {H, I}, Component::Mlp, li);
    add(p + "post_feedforward_layernorm.weight", {H}, Component::Norm, li);
    add(p + "layer_scalar", {1}, Component::Norm, li);
    if (c.has_ple()) {
      add(p + "per_layer_input_gate.weight", {P, H}, Component::PerLayerProjection, li);
      add(p + "per_layer_projection.weight", {H, P}, Component::PerLayerProjection, li);
      add(p + "post_per_layer_input_norm.weight", {H}, Component::Norm, li);
    }
    if (c.enable_moe_block) {
      const int64_t E = c.num_experts, Ie = c.moe_intermediate_size;
      add(p + "router.proj.weight", {E, H}, Component::Router, li);
      add(p + "router.scale", {H}, Component::Router, li);
      add(p + "router.per_expert_scale", {E}, Component::Router, li);
      add(p + "experts.gate_up_proj", {E, 2 * Ie, H}, Component::Experts, li);
      add(p + "experts.down_proj", {E, H, Ie}, Component::Experts, li);
      add(p + "pre_feedforward_layernorm_2.weight", {H}, Component::Norm, li);
      add(p + "post_feedforward_layernorm_1.weight", {H}, Component::Norm, li);
      add(p + "post_feedforward_layernorm_2.weight", {H}, Component::Norm, li);
    }
  }
  add("norm.weight", {H}, Component::Norm);
  if (!c.tie_word_embeddings) add("lm_head.weight", {V, H}, Component::Embedding);
  return out;
}

}  // namespace gq
