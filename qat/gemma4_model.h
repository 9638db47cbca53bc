// Gemma 4 text decoder in LibTorch, numerically following Hugging Face's Gemma4TextModel
// (gemma4-architecture.md §3). Parameter and buffer names equal HF's names without the checkpoint
// prefix ("layers.0.self_attn.q_proj.weight"), so loading and saving are by name.
//
// Every place where a deployed runtime rounds something is a QuantSeam (identity until a recipe
// sets it): Linear weights, inputs and outputs, token/PLE embedding rows, the output head (weight,
// input, output), K/V writes, and every float tensor the deployed file stores in a narrower dtype
// (norm weights, router scales, layer scalars).
#pragma once
#include <optional>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include "model/gemma4_config.h"
#include "qat/quantizer.h"

namespace gq {

// Bias-free Linear, y = x Wᵀ, with a weight seam and input / output (activation) seams.
class QLinearImpl : public torch::nn::Module {
 public:
  QLinearImpl(int64_t in_features, int64_t out_features);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor quantized_weight() { return weight_quant(weight); }

  at::Tensor weight;  // [out, in]
  QuantSeam weight_quant{this, "weight_fq"};
  QuantSeam input_quant{this, "input_fq"};
  QuantSeam output_quant{this, "output_fq"};
};
TORCH_MODULE(QLinear);

// A [rows, cols] table read by row (token embeddings, the PLE table, an untied head).
class EmbeddingTableImpl : public torch::nn::Module {
 public:
  EmbeddingTableImpl(int64_t rows, int64_t cols);
  at::Tensor weight;
};
TORCH_MODULE(EmbeddingTable);

// RMSNorm in float32 with scale w (not 1+w); without a weight when with_scale is false.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, bool with_scale = true);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;  // undefined when !with_scale
  double eps;
  QuantSeam weight_quant{this, "weight_fq"};
};
TORCH_MODULE(RMSNorm);

// K/V of one attention layer for the current step: keys/values of every cached position plus the
// new ones, with their absolute positions. Shared layers read their donor's entry.
struct LayerKV {
  at::Tensor k, v;    // [B, n_kv, S, head_dim]
  at::Tensor pos;     // [S] int64 absolute positions
};

// Incremental-decoding state. Sliding layers keep only the last sliding_window-1 positions (all a
// later query can see); full layers keep everything; KV-shared layers own no entry.
struct KVCache {
  std::vector<LayerKV> layers;  // indexed by layer; empty tensors for shared layers
  int64_t next_pos = 0;
};

class Gemma4AttentionImpl : public torch::nn::Module {
 public:
  Gemma4AttentionImpl(const Gemma4Config& cfg, int64_t layer);
  // step_kv: per-layer K/V of this forward; this layer writes its own entry (or reads its donor's).
  at::Tensor forward(const at::Tensor& h, const at::Tensor& pos, const at::Tensor& cos, const at::Tensor& sin,
                     const LayerKV* cached, std::vector<LayerKV>& step_kv);

  int64_t layer, n_heads, n_kv, head_dim, window;
  bool sliding, has_v, shared;
  int donor;
  QLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr}, v_norm{nullptr};
  QuantSeam k_cache_quant{this, "k_cache_fq"};  // K after RoPE, as written to the cache
  QuantSeam v_cache_quant{this, "v_cache_fq"};  // V after its norm
};
TORCH_MODULE(Gemma4Attention);

class Gemma4MLPImpl : public torch::nn::Module {
 public:
  Gemma4MLPImpl(int64_t hidden, int64_t intermediate);
  at::Tensor forward(const at::Tensor& x);
  QLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Gemma4MLP);

class Gemma4RouterImpl : public torch::nn::Module {
 public:
  Gemma4RouterImpl(const Gemma4Config& cfg);
  // Returns (weights [N, k], expert indices [N, k]) for residual-stream rows x [N, H].
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x);
  QLinear proj{nullptr};
  at::Tensor scale, per_expert_scale;
  QuantSeam scale_quant{this, "scale_fq"};
  QuantSeam per_expert_scale_quant{this, "per_expert_scale_fq"};
  int64_t top_k;
  double eps, scalar;
};
TORCH_MODULE(Gemma4Router);

class Gemma4ExpertsImpl : public torch::nn::Module {
 public:
  Gemma4ExpertsImpl(const Gemma4Config& cfg);
  at::Tensor forward(const at::Tensor& u, const at::Tensor& weights, const at::Tensor& idx);
  at::Tensor gate_up_proj;  // [E, 2*Ie, H]; rows 0..Ie-1 gate, Ie.. up
  at::Tensor down_proj;     // [E, H, Ie]
  QuantSeam gate_up_quant{this, "gate_up_fq"};
  QuantSeam down_quant{this, "down_fq"};
  int64_t n_experts, width;
};
TORCH_MODULE(Gemma4Experts);

class Gemma4DecoderLayerImpl : public torch::nn::Module {
 public:
  Gemma4DecoderLayerImpl(const Gemma4Config& cfg, int64_t layer);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& pos, const at::Tensor& cos, const at::Tensor& sin,
                     const at::Tensor& ple_l, const LayerKV* cached, std::vector<LayerKV>& step_kv);

  Gemma4Attention self_attn{nullptr};
  Gemma4MLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  RMSNorm pre_feedforward_layernorm{nullptr}, post_feedforward_layernorm{nullptr};
  // MoE (enable_moe_block)
  Gemma4Router router{nullptr};
  Gemma4Experts experts{nullptr};
  RMSNorm pre_feedforward_layernorm_2{nullptr}, post_feedforward_layernorm_1{nullptr}, post_feedforward_layernorm_2{nullptr};
  // PLE
  QLinear per_layer_input_gate{nullptr}, per_layer_projection{nullptr};
  RMSNorm post_per_layer_input_norm{nullptr};
  at::Tensor layer_scalar;  // buffer [1]
  QuantSeam layer_scalar_quant{this, "layer_scalar_fq"};
};
TORCH_MODULE(Gemma4DecoderLayer);

struct ForwardOptions {
  bool return_hidden = false;  // hidden.0 .. hidden.L as in HF's output_hidden_states
  // Per-layer activation checkpointing (training): each decoder layer keeps only its inputs and is
  // recomputed in backward. Only in grad mode and without a KV cache; the values are the same.
  bool checkpoint_layers = false;
};

struct ForwardResult {
  at::Tensor logits;                 // [B, T, V] float32, after the final softcap
  std::vector<at::Tensor> hidden;    // only with return_hidden
};

class Gemma4ModelImpl : public torch::nn::Module {
 public:
  explicit Gemma4ModelImpl(const Gemma4Config& cfg);

  // ids: [B, T] int64. With a cache, positions continue from cache->next_pos and the cache is
  // extended; without one, positions start at 0.
  ForwardResult forward(const at::Tensor& ids, KVCache* cache = nullptr, const ForwardOptions& opt = {});
  KVCache new_cache() const;

  const Gemma4Config& config() const { return cfg_; }
  at::Tensor head_weight();  // the tied embedding (or lm_head), through the head seam

  EmbeddingTable embed_tokens{nullptr};            // [V, H]
  EmbeddingTable embed_tokens_per_layer{nullptr};  // [V_ple, L*P] (PLE only)
  QLinear per_layer_model_projection{nullptr};
  RMSNorm per_layer_projection_norm{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
  EmbeddingTable lm_head{nullptr};                 // only when tie_word_embeddings is false
  QuantSeam embed_quant{this, "embed_fq"};       // applied to gathered token-embedding rows (frozen: to the table)
  QuantSeam ple_embed_quant{this, "ple_embed_fq"};  // applied to gathered PLE rows
  QuantSeam head_quant{this, "head_fq"};         // applied to the output head weight
  QuantSeam head_input_quant{this, "head_input_fq"};    // the head's input (the final normed hidden state)
  QuantSeam head_output_quant{this, "head_output_fq"};  // its output (logits before the final softcap)

  std::vector<Gemma4DecoderLayer> decoder_layers;  // typed views of `layers`

 private:
  Gemma4Config cfg_;
  at::Tensor inv_freq_sliding_, inv_freq_full_;  // float32 buffers, HF's rounding
};
TORCH_MODULE(Gemma4Model);

// Inverse RoPE frequencies for a layer type, as HF computes them in float32 (proportional RoPE:
// the first partial*hd/2 frequencies over the full head dim, the rest zero).
at::Tensor rope_inv_freq(const RopeParams& rope, int64_t head_dim);

}  // namespace gq
