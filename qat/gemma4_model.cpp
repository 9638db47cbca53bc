#include "qat/gemma4_model.h"

#include <cmath>

#include <ATen/ATen.h>

#include "io/error.h"
#include "qat/activation_checkpoint.h"

namespace gq {
namespace {

at::Tensor gelu_tanh(const at::Tensor& x) { return at::gelu(x, "tanh"); }

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t h = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, h, h), x.narrow(-1, 0, h)}, -1);
}

// x: [B, heads, T, hd]; cos/sin: [T, hd]
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  return x * cos + rotate_half(x) * sin;
}

// Rows `ids` of a table through its seam: gathered from the frozen table (each row quantized on its
// own, so the same numbers), else quantized after the gather.
at::Tensor table_rows(const QuantSeam& seam, const at::Tensor& table, const at::Tensor& ids) {
  if (at::Tensor frozen = seam.frozen_output(table); frozen.defined()) return frozen.index_select(0, ids);
  return seam(table.index_select(0, ids));
}

// Layer i under activation checkpointing. Each layer is its own checkpointed unit, and the tensors
// that carry a gradient across its boundary are explicit inputs and outputs: the hidden state, the
// layer's PLE slice, and the K/V a KV-sharing layer reads from its donor (in) or a donor writes (out).
// The alternative, one unit holding a donor and every layer that reads it, would be most of the
// model on E2B (its last 20 layers read two donors) and save little. pos, cos and sin carry no
// gradient and are captured. The recompute is deterministic: the forward draws no random numbers.
at::Tensor checkpointed_layer(const Gemma4DecoderLayer& layer, const Gemma4Config& c, int64_t i, const at::Tensor& x,
                              const at::Tensor& pos, const at::Tensor& cos, const at::Tensor& sin,
                              const at::Tensor& ple_l, std::vector<LayerKV>& step_kv) {
  const bool shared = c.is_kv_shared(i), has_ple = ple_l.defined();
  const size_t donor = size_t(c.kv_donor[size_t(i)]), n_layers = step_kv.size();
  const std::shared_ptr<Gemma4DecoderLayerImpl> impl = layer.ptr();
  std::vector<at::Tensor> inputs{x};
  if (has_ple) inputs.push_back(ple_l);
  at::Tensor donor_pos;
  if (shared) {
    inputs.push_back(step_kv[donor].k);
    inputs.push_back(step_kv[donor].v);
    donor_pos = step_kv[donor].pos;
  }
  const CheckpointedFn run = [=](const std::vector<at::Tensor>& in) -> std::vector<at::Tensor> {
    std::vector<LayerKV> kv(n_layers);
    size_t next = 1;
    const at::Tensor p = has_ple ? in[next++] : at::Tensor();
    if (shared) kv[donor] = LayerKV{in[next], in[next + 1], donor_pos};
    at::Tensor y = impl->forward(in[0], pos, cos, sin, p, nullptr, kv);
    if (shared) return {y};
    return {y, kv[size_t(i)].k, kv[size_t(i)].v};
  };
  std::vector<at::Tensor> out = checkpointed(run, inputs);
  if (!shared) step_kv[size_t(i)] = LayerKV{out[1], out[2], pos};
  return out[0];
}

}  // namespace

// ---------------------------------------------------------------------------------------------
EmbeddingTableImpl::EmbeddingTableImpl(int64_t rows, int64_t cols) {
  weight = register_parameter("weight", at::empty({rows, cols}, at::kFloat));
  at::NoGradGuard ng;
  weight.normal_(0.0, 0.02);
}

QLinearImpl::QLinearImpl(int64_t in_features, int64_t out_features) {
  weight = register_parameter("weight", at::empty({out_features, in_features}, at::kFloat));
  at::NoGradGuard ng;
  weight.normal_(0.0, 0.02);
}

at::Tensor QLinearImpl::forward(const at::Tensor& x) {
  return output_quant(at::matmul(input_quant(x), weight_quant(weight).t()));
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_, bool with_scale) : eps(eps_) {
  if (with_scale) weight = register_parameter("weight", at::ones({dim}, at::kFloat));
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
  const at::Tensor xf = x.to(at::kFloat);
  at::Tensor y = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  if (weight.defined()) y = y * weight_quant(weight);
  return y.to(x.scalar_type());
}

at::Tensor rope_inv_freq(const RopeParams& rope, int64_t head_dim) {
  const int64_t half = head_dim / 2;
  int64_t rotated = half;
  if (rope.rope_type == "proportional") rotated = int64_t(rope.partial_rotary_factor * double(head_dim)) / 2;
  at::Tensor exponents = at::arange(0, 2 * rotated, 2, at::kLong).to(at::kFloat) / float(head_dim);
  at::Tensor inv = 1.0 / at::pow(at::scalar_tensor(rope.rope_theta, at::kFloat), exponents);
  if (rope.rope_type == "proportional") {
    inv = at::cat({inv, at::zeros({half - rotated}, at::kFloat)}) / float(rope.factor);
  }
  return inv;
}

// ---------------------------------------------------------------------------------------------
Gemma4AttentionImpl::Gemma4AttentionImpl(const Gemma4Config& c, int64_t layer_)
    : layer(layer_),
      n_heads(c.num_attention_heads),
      n_kv(c.layer_kv_heads[size_t(layer_)]),
      head_dim(c.layer_head_dim[size_t(layer_)]),
      window(c.sliding_window),
      sliding(c.is_sliding(layer_)),
      has_v(c.has_v_proj(layer_)),
      shared(c.is_kv_shared(layer_)),
      donor(c.kv_donor[size_t(layer_)]) {
  const int64_t H = c.hidden_size;
  q_proj = register_module("q_proj", QLinear(H, n_heads * head_dim));
  q_norm = register_module("q_norm", RMSNorm(head_dim, c.rms_norm_eps));
  if (!shared) {
    k_proj = register_module("k_proj", QLinear(H, n_kv * head_dim));
    if (has_v) v_proj = register_module("v_proj", QLinear(H, n_kv * head_dim));
    k_norm = register_module("k_norm", RMSNorm(head_dim, c.rms_norm_eps));
  }
  v_norm = register_module("v_norm", RMSNorm(head_dim, c.rms_norm_eps, /*with_scale=*/false));
  o_proj = register_module("o_proj", QLinear(n_heads * head_dim, H));
}

at::Tensor Gemma4AttentionImpl::forward(const at::Tensor& h, const at::Tensor& pos, const at::Tensor& cos,
                                        const at::Tensor& sin, const LayerKV* cached, std::vector<LayerKV>& step_kv) {
  const int64_t B = h.size(0), T = h.size(1);
  at::Tensor q = q_proj(h).view({B, T, n_heads, head_dim});
  q = apply_rope(q_norm(q).transpose(1, 2), cos, sin);  // [B, nH, T, hd]

  const LayerKV* kv = nullptr;
  if (shared) {
    kv = &step_kv[size_t(donor)];
  } else {
    at::Tensor k_raw = k_proj(h).view({B, T, n_kv, head_dim});
    at::Tensor v_raw = has_v ? v_proj(h).view({B, T, n_kv, head_dim}) : k_raw;  // K=V: raw, pre-norm K
    at::Tensor k = k_cache_quant(apply_rope(k_norm(k_raw).transpose(1, 2), cos, sin));
    at::Tensor v = v_cache_quant(v_norm(v_raw).transpose(1, 2));
    LayerKV& mine = step_kv[size_t(layer)];
    if (cached && cached->k.defined() && cached->k.size(2) > 0) {
      mine.k = at::cat({cached->k, k}, 2);
      mine.v = at::cat({cached->v, v}, 2);
      mine.pos = at::cat({cached->pos, pos});
    } else {
      mine = LayerKV{k, v, pos};
    }
    kv = &mine;
  }

  // Which keys each query sees: causal, and inside the window on sliding layers.
  const at::Tensor qp = pos.unsqueeze(1), kp = kv->pos.unsqueeze(0);
  at::Tensor allowed = kp <= qp;
  if (sliding) allowed = allowed & ((qp - kp) < window);

  const int64_t rep = n_heads / kv->k.size(1);
  at::Tensor k = rep > 1 ? kv->k.repeat_interleave(rep, 1) : kv->k;
  at::Tensor v = rep > 1 ? kv->v.repeat_interleave(rep, 1) : kv->v;
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2));  // scaling 1.0: q and k are RMS-normed
  scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  at::Tensor probs = at::softmax(scores.to(at::kFloat), -1).to(q.scalar_type());
  at::Tensor o = at::matmul(probs, v).transpose(1, 2).reshape({B, T, n_heads * head_dim});
  return o_proj(o);
}

// ---------------------------------------------------------------------------------------------
Gemma4MLPImpl::Gemma4MLPImpl(int64_t hidden, int64_t intermediate) {
  gate_proj = register_module("gate_proj", QLinear(hidden, intermediate));
  up_proj = register_module("up_proj", QLinear(hidden, intermediate));
  down_proj = register_module("down_proj", QLinear(intermediate, hidden));
}

at::Tensor Gemma4MLPImpl::forward(const at::Tensor& x) {
  return down_proj(gelu_tanh(gate_proj(x)) * up_proj(x));
}

Gemma4RouterImpl::Gemma4RouterImpl(const Gemma4Config& c)
    : top_k(c.top_k_experts), eps(c.rms_norm_eps), scalar(std::pow(double(c.hidden_size), -0.5)) {
  proj = register_module("proj", QLinear(c.hidden_size, c.num_experts));
  scale = register_parameter("scale", at::ones({c.hidden_size}, at::kFloat));
  per_expert_scale = register_parameter("per_expert_scale", at::ones({c.num_experts}, at::kFloat));
}

std::pair<at::Tensor, at::Tensor> Gemma4RouterImpl::forward(const at::Tensor& x) {
  at::Tensor z = x * at::rsqrt(x.pow(2).mean(-1, true) + eps);  // scale-less RMSNorm
  z = z * scale_quant(scale) * scalar;
  at::Tensor probs = at::softmax(proj(z), -1);
  auto [w, idx] = at::topk(probs, top_k, -1);
  w = w / w.sum(-1, true);
  w = w * per_expert_scale_quant(per_expert_scale).index_select(0, idx.reshape(-1)).view(idx.sizes());
  return {w, idx};
}

Gemma4ExpertsImpl::Gemma4ExpertsImpl(const Gemma4Config& c) : n_experts(c.num_experts), width(c.moe_intermediate_size) {
  gate_up_proj = register_parameter("gate_up_proj", at::empty({n_experts, 2 * width, c.hidden_size}, at::kFloat));
  down_proj = register_parameter("down_proj", at::empty({n_experts, c.hidden_size, width}, at::kFloat));
  at::NoGradGuard ng;
  gate_up_proj.normal_(0.0, 0.02);
  down_proj.normal_(0.0, 0.02);
}

// u: [N, H]; weights, idx: [N, k]. Each expert runs once on the rows routed to it.
at::Tensor Gemma4ExpertsImpl::forward(const at::Tensor& u, const at::Tensor& weights, const at::Tensor& idx) {
  const at::Tensor gu_all = gate_up_quant(gate_up_proj), dn_all = down_quant(down_proj);
  at::Tensor out = at::zeros_like(u);
  const at::Tensor flat_idx = idx.reshape(-1);
  const int64_t k = idx.size(1);
  for (int64_t e = 0; e < n_experts; ++e) {
    const at::Tensor hits = (flat_idx == e).nonzero().squeeze(1);
    if (hits.numel() == 0) continue;
    const at::Tensor rows = at::floor_divide(hits, k);
    const at::Tensor x = u.index_select(0, rows);
    const at::Tensor y = at::matmul(x, gu_all[e].t());
    const at::Tensor hmid = gelu_tanh(y.narrow(1, 0, width)) * y.narrow(1, width, width);
    const at::Tensor o = at::matmul(hmid, dn_all[e].t()) * weights.reshape(-1).index_select(0, hits).unsqueeze(1);
    out = out.index_add(0, rows, o);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
Gemma4DecoderLayerImpl::Gemma4DecoderLayerImpl(const Gemma4Config& c, int64_t layer) {
  const int64_t H = c.hidden_size;
  const double eps = c.rms_norm_eps;
  self_attn = register_module("self_attn", Gemma4Attention(c, layer));
  mlp = register_module("mlp", Gemma4MLP(H, c.layer_intermediate[size_t(layer)]));
  input_layernorm = register_module("input_layernorm", RMSNorm(H, eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(H, eps));
  pre_feedforward_layernorm = register_module("pre_feedforward_layernorm", RMSNorm(H, eps));
  post_feedforward_layernorm = register_module("post_feedforward_layernorm", RMSNorm(H, eps));
  if (c.enable_moe_block) {
    router = register_module("router", Gemma4Router(c));
    experts = register_module("experts", Gemma4Experts(c));
    pre_feedforward_layernorm_2 = register_module("pre_feedforward_layernorm_2", RMSNorm(H, eps));
    post_feedforward_layernorm_1 = register_module("post_feedforward_layernorm_1", RMSNorm(H, eps));
    post_feedforward_layernorm_2 = register_module("post_feedforward_layernorm_2", RMSNorm(H, eps));
  }
  if (c.has_ple()) {
    const int64_t P = c.hidden_size_per_layer_input;
    per_layer_input_gate = register_module("per_layer_input_gate", QLinear(H, P));
    per_layer_projection = register_module("per_layer_projection", QLinear(P, H));
    post_per_layer_input_norm = register_module("post_per_layer_input_norm", RMSNorm(H, eps));
  }
  layer_scalar = register_buffer("layer_scalar", at::ones({1}, at::kFloat));
}

at::Tensor Gemma4DecoderLayerImpl::forward(const at::Tensor& x_in, const at::Tensor& pos, const at::Tensor& cos,
                                           const at::Tensor& sin, const at::Tensor& ple_l, const LayerKV* cached,
                                           std::vector<LayerKV>& step_kv) {
  at::Tensor x = x_in;
  at::Tensor a = self_attn(input_layernorm(x), pos, cos, sin, cached, step_kv);
  x = x + post_attention_layernorm(a);

  at::Tensor f = mlp(pre_feedforward_layernorm(x));
  if (router) {
    const auto shape = x.sizes().vec();
    const at::Tensor flat = x.reshape({-1, shape.back()});
    auto [w, idx] = router(flat);  // the router reads the post-attention residual stream
    at::Tensor f2 = experts(pre_feedforward_layernorm_2(flat), w, idx).view(shape);
    f = post_feedforward_layernorm_1(f) + post_feedforward_layernorm_2(f2);
  }
  x = x + post_feedforward_layernorm(f);

  if (per_layer_input_gate) {
    at::Tensor g = gelu_tanh(per_layer_input_gate(x)) * ple_l;
    x = x + post_per_layer_input_norm(per_layer_projection(g));
  }
  return x * layer_scalar_quant(layer_scalar);
}

// ---------------------------------------------------------------------------------------------
Gemma4ModelImpl::Gemma4ModelImpl(const Gemma4Config& c) : cfg_(c) {
  const int64_t H = c.hidden_size, V = c.vocab_size, L = c.L();
  embed_tokens = register_module("embed_tokens", EmbeddingTable(V, H));
  if (c.has_ple()) {
    const int64_t P = c.hidden_size_per_layer_input;
    embed_tokens_per_layer = register_module("embed_tokens_per_layer", EmbeddingTable(c.vocab_size_per_layer_input, L * P));
    per_layer_model_projection = register_module("per_layer_model_projection", QLinear(H, L * P));
    per_layer_projection_norm = register_module("per_layer_projection_norm", RMSNorm(P, c.rms_norm_eps));
  }
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < L; ++i) {
    decoder_layers.push_back(Gemma4DecoderLayer(c, i));
    layers->push_back(decoder_layers.back());
  }
  norm = register_module("norm", RMSNorm(H, c.rms_norm_eps));
  if (!c.tie_word_embeddings) {
    lm_head = register_module("lm_head", EmbeddingTable(V, H));
  }
  for (int64_t i = 0; i < L; ++i) {
    if (c.is_sliding(i) && !inv_freq_sliding_.defined()) inv_freq_sliding_ = rope_inv_freq(c.rope_sliding, c.layer_head_dim[size_t(i)]);
    if (!c.is_sliding(i) && !inv_freq_full_.defined()) inv_freq_full_ = rope_inv_freq(c.rope_full, c.layer_head_dim[size_t(i)]);
  }
}

KVCache Gemma4ModelImpl::new_cache() const {
  KVCache cache;
  cache.layers.resize(size_t(cfg_.L()));
  return cache;
}

at::Tensor Gemma4ModelImpl::head_weight() { return head_quant(lm_head ? lm_head->weight : embed_tokens->weight); }

ForwardResult Gemma4ModelImpl::forward(const at::Tensor& ids, KVCache* cache, const ForwardOptions& opt) {
  TORCH_CHECK(ids.dim() == 2, "ids must be [batch, tokens]");
  const Gemma4Config& c = cfg_;
  const int64_t B = ids.size(0), T = ids.size(1), H = c.hidden_size, L = c.L();
  const auto dev = embed_tokens->weight.device();
  const int64_t start = cache ? cache->next_pos : 0;
  const at::Tensor pos = at::arange(start, start + T, at::TensorOptions().dtype(at::kLong).device(dev));

  // HF: embed_scale = sqrt(H) as a float32 buffer (exact, not rounded to bf16, in a float32 model).
  const float embed_scale = float(std::sqrt(double(H)));
  at::Tensor x = table_rows(embed_quant, embed_tokens->weight, ids.reshape(-1)).view({B, T, H}) * embed_scale;

  at::Tensor ple;
  if (c.has_ple()) {
    const int64_t P = c.hidden_size_per_layer_input;
    at::Tensor tok = table_rows(ple_embed_quant, embed_tokens_per_layer->weight, ids.reshape(-1)).view({B, T, L, P}) *
                     float(std::sqrt(double(P)));
    at::Tensor ctx = per_layer_model_projection(x) * std::pow(double(H), -0.5);
    ctx = per_layer_projection_norm(ctx.view({B, T, L, P}));
    ple = (ctx + tok) * std::pow(2.0, -0.5);
  }

  // RoPE tables per layer type: angle = pos * inv_freq in float32, duplicated for rotate_half.
  auto rope_tables = [&](const at::Tensor& inv) {
    at::Tensor ang = pos.to(at::kFloat).unsqueeze(1) * inv.to(dev).unsqueeze(0);
    at::Tensor emb = at::cat({ang, ang}, -1);
    return std::make_pair(emb.cos(), emb.sin());
  };
  std::pair<at::Tensor, at::Tensor> rope_s, rope_f;
  if (inv_freq_sliding_.defined()) rope_s = rope_tables(inv_freq_sliding_);
  if (inv_freq_full_.defined()) rope_f = rope_tables(inv_freq_full_);

  ForwardResult res;
  if (opt.return_hidden) res.hidden.push_back(x);
  std::vector<LayerKV> step_kv(static_cast<size_t>(L));
  const bool checkpoint = opt.checkpoint_layers && !cache && at::GradMode::is_enabled();
  for (int64_t i = 0; i < L; ++i) {
    const auto& rt = c.is_sliding(i) ? rope_s : rope_f;
    const LayerKV* cached = cache ? &cache->layers[size_t(i)] : nullptr;
    at::Tensor ple_l = ple.defined() ? ple.select(2, i) : at::Tensor();
    if (checkpoint) {
      x = checkpointed_layer(decoder_layers[size_t(i)], c, i, x, pos, rt.first, rt.second, ple_l, step_kv);
    } else {
      x = decoder_layers[size_t(i)]->forward(x, pos, rt.first, rt.second, ple_l, cached, step_kv);
    }
    if (opt.return_hidden && i + 1 < L) res.hidden.push_back(x);
  }
  x = norm(x);
  if (opt.return_hidden) res.hidden.push_back(x);

  at::Tensor logits = head_output_quant(at::matmul(head_input_quant(x), head_weight().t()));
  if (c.final_logit_softcapping) {
    const double cap = *c.final_logit_softcapping;
    logits = at::tanh(logits / cap) * cap;
  }
  res.logits = logits;

  if (cache) {
    for (int64_t i = 0; i < L; ++i) {
      if (c.is_kv_shared(i)) continue;
      LayerKV kv = step_kv[size_t(i)];
      if (c.is_sliding(i)) {
        const int64_t keep = std::min<int64_t>(kv.k.size(2), c.sliding_window - 1);
        const int64_t drop = kv.k.size(2) - keep;
        kv = LayerKV{kv.k.narrow(2, drop, keep), kv.v.narrow(2, drop, keep), kv.pos.narrow(0, drop, keep)};
      }
      cache->layers[size_t(i)] = kv;
    }
    cache->next_pos = start + T;
  }
  return res;
}

}  // namespace gq
