#include "recipes/train_memory.h"

#include <algorithm>
#include <map>

#include "model/gemma4_tensors.h"
#include "model/quant_targets.h"

namespace gq {
namespace {

// Elements autograd keeps for backward in one decoder layer, at N = B*T tokens (qat/gemma4_model.cpp,
// op by op: an RMSNorm keeps its input, its rsqrt and its normalized value; a matmul its input; a
// product both factors; softmax and tanh their output). Plus the [T, T] bool mask, in bytes.
struct LayerSaved {
  int64_t elems = 0;
  int64_t mask_bytes = 0;
  int64_t scores = 0;  // one [B, heads, T, T] score matrix, for the transient peak
};

LayerSaved layer_saved(const Gemma4Config& c, int64_t i, int64_t B, int64_t T) {
  const int64_t N = B * T, H = c.hidden_size, nh = c.num_attention_heads, d = c.layer_head_dim[size_t(i)];
  const int64_t nkv = c.layer_kv_heads[size_t(i)], I = c.layer_intermediate[size_t(i)];
  const bool rep = nh != nkv;
  LayerSaved s;
  int64_t e = 0;
  // Residual stream: the input norm (input, value, output read by q/k/v), post-attention norm (input,
  // value), pre-feedforward norm (3), post-feedforward norm (2), the layer_scalar product's input.
  e += 11 * N * H + 4 * N;
  // q: projection, q_norm value and output, rotate_half, the roped q the scores read; q_norm's rsqrt.
  e += 5 * N * nh * d + N * nh;
  if (!c.is_kv_shared(i)) {
    e += 4 * N * nkv * d + 2 * N * nkv;         // k as q (its roped output counted below), k/v rsqrt
    if (c.has_v_proj(i)) e += N * nkv * d;      // raw v, kept by v_norm
    e += rep ? 2 * N * nh * d : 2 * N * nkv * d;  // the k and v the matmuls read (repeated to all heads)
  } else if (rep) {
    e += 2 * N * nh * d;  // the donor's k/v repeated for this layer's matmuls
  }
  s.scores = B * nh * T * T;
  e += s.scores;        // softmax probabilities
  e += N * nh * d;      // attention output, reshaped for o_proj
  e += 4 * N * I;       // gate output, gelu(gate), up output, their product
  if (c.enable_moe_block) {
    const int64_t E = c.num_experts, k = c.top_k_experts, W = c.moe_intermediate_size;
    e += 2 * N * H + N * E + 4 * N * k + N;     // router: scaled and projected input, probabilities, top-k weights
    e += 2 * N * H + N;                         // pre_feedforward_layernorm_2
    e += N * k * (2 * H + 4 * W + 1);           // per routed row: input, gate_up, gelu, product, output, weight
    e += 4 * N * H + 2 * N;                     // post_feedforward_layernorm_1 / _2
  }
  if (c.has_ple()) {
    const int64_t P = c.hidden_size_per_layer_input;
    e += 3 * N * H + N + 3 * N * P;  // gate input, projection output + its norm; gate, gelu, product
  }
  s.elems = e;
  s.mask_bytes = T * T;
  return s;
}

}  // namespace

int64_t TrainMemory::per_device(int devices, int zero_stage, bool checkpointing) const {
  const int64_t D = std::max(1, devices);
  auto split = [&](int64_t bytes, int stage) { return zero_stage >= stage ? (bytes + D - 1) / D : bytes; };
  int64_t b = split(weights, 3) + split(grads, 2) + split(optimizer + master_weights, 1) + learned_scale_state;
  if (zero_stage >= 3 && D > 1) b += gathered_layer;
  if (checkpointing) return b + activations_ckpt + fake_quant_saved_ckpt + backward_peak_ckpt;
  return b + activations + fake_quant_saved + transient;
}

TrainMemory train_memory(const Gemma4Config& c, const std::optional<ResolvedRecipe>& recipe,
                         const TrainMemoryOptions& opt) {
  TrainMemory m;
  const int64_t B = opt.micro_batch, T = opt.seq_len, N = B * T, H = c.hidden_size, V = c.vocab_size, L = c.L();
  const int64_t wb = int64_t(dtype_size(opt.weight_dtype)), ab = int64_t(dtype_size(opt.activation_dtype));

  std::map<std::string, QuantTarget> module_of_tensor;
  for (const QuantTarget& t : gemma4_quant_targets(c))
    if (!t.tensor.empty()) module_of_tensor[t.tensor] = t;
  auto scheme_of = [&](const std::string& module) -> const quant::WeightScheme* {
    if (!recipe) return nullptr;
    auto it = recipe->weights.find(module);
    return it == recipe->weights.end() ? nullptr : &it->second;
  };

  // Fake-quant copies: a quantized matrix's simulated weight (read by its matmul) and STE mask,
  // plus LSQ's per-element step gradient; the token tables are quantized after the row gather, so
  // only the gathered rows' masks are kept.
  std::vector<int64_t> layer_fq(size_t(L), 0), layer_params(size_t(L), 0);
  int64_t global_fq = 0, head_fq = 0;  // head_fq: the output head's part of global_fq
  // Per element: the simulated weight (the weight's dtype) and the float32 STE mask, plus LSQ's
  // float32 step gradient.
  auto fq_bytes = [&](bool learned) { return wb + 4 + (learned ? 4 : 0); };
  auto add_learned = [&](const QuantTarget& t, const quant::WeightScheme& s) {
    if (!recipe->learns_scale(t.name, c.tie_word_embeddings)) return false;
    m.learned_scales += t.matrices * t.rows * s.scales_per_row(t.cols);
    return true;
  };
  for (const TensorSpec& s : gemma4_tensor_specs(c)) {
    if (s.unused) continue;
    m.params += s.numel();
    if (s.layer >= 0) layer_params[size_t(s.layer)] += s.numel();
    auto mod = module_of_tensor.find(s.name);
    if (mod == module_of_tensor.end()) continue;
    const quant::WeightScheme* scheme = scheme_of(mod->second.name);
    if (!scheme) continue;
    m.quantized_params += s.numel();
    if (mod->second.kind == TargetKind::Embedding) {
      const int64_t gathered = s.name == "embed_tokens.weight" ? N * H : N * L * c.hidden_size_per_layer_input;
      global_fq += gathered * 4;  // the float32 STE mask of the gathered rows
      continue;
    }
    const int64_t bytes = s.numel() * fq_bytes(add_learned(mod->second, *scheme));
    (s.layer >= 0 ? layer_fq[size_t(s.layer)] : global_fq) += bytes;
    if (mod->second.name == "lm_head") head_fq += bytes;
  }
  if (c.tie_word_embeddings) {  // the tied head reads the table through its own quantizer
    for (const QuantTarget& t : gemma4_quant_targets(c))
      if (t.name == "lm_head" && t.tensor.empty())
        if (const quant::WeightScheme* s = scheme_of("lm_head")) {
          global_fq += V * H * fq_bytes(add_learned(t, *s));
          head_fq += V * H * fq_bytes(add_learned(t, *s));
        }
  }
  // A learned scale: its log-ratio parameter, gradient, two AdamW moments, and the initial scale.
  m.learned_scale_state = m.learned_scales * 4 * 5;

  m.weights = m.params * wb;
  m.grads = m.params * wb;
  m.optimizer = m.params * 8;  // AdamW exp_avg + exp_avg_sq, float32
  m.master_weights = opt.weight_dtype == DType::F32 ? 0 : m.params * 4;
  for (int64_t p : layer_params) m.gathered_layer = std::max(m.gathered_layer, 2 * p * wb);

  // Outside the layers: the embedding lookup (the first layer keeps it as its input), the PLE
  // context (projection, norm value, the mixed per-layer inputs every layer's gate reads), the final
  // norm, and the head: softcap's tanh, log_softmax's output and the logits the trainer holds.
  int64_t global = 0;
  if (c.has_ple()) global += 3 * N * L * c.hidden_size_per_layer_input + N * L;
  global += 3 * N * H + N;
  m.logits = (c.final_logit_softcapping ? 3 : 2) * N * V * ab;
  int64_t layers = 0, largest_layer = 0, largest_scores = 0, masks = 0, largest_fq = 0;
  for (int64_t i = 0; i < L; ++i) {
    const LayerSaved s = layer_saved(c, i, B, T);
    layers += s.elems;
    largest_layer = std::max(largest_layer, s.elems);
    largest_scores = std::max(largest_scores, s.scores);
    masks += s.mask_bytes;
    largest_fq = std::max(largest_fq, layer_fq[size_t(i)]);
    m.fake_quant_saved += layer_fq[size_t(i)];
  }
  m.fake_quant_saved += global_fq;
  m.activations = (global + layers) * ab + masks + m.logits;
  // The loss backward's two [N, vocab] gradients, or a layer's scores and masked scores before softmax.
  m.transient = std::max(2 * N * V, 2 * largest_scores) * ab;

  // Checkpointing (qat/activation_checkpoint.h) keeps, through the whole backward, every layer's
  // input, the K/V a KV-sharing layer reads from its donor, and what lies outside the layers but the
  // head. The head and one recomputed layer are never alive together: backward frees the logits,
  // their gradients and the head's fake-quant copy before it recomputes the last layer. So the peak
  // on top is the larger of the two phases. (Summing them overestimated the measured peak on
  // tiny-e2b by 30% at 4 x 512 tokens, 10% at 1 x 256.)
  int64_t donor_kv = 0;
  std::vector<bool> is_donor(size_t(L), false);
  for (int64_t i = 0; i < L; ++i)
    if (c.is_kv_shared(i)) is_donor[size_t(c.kv_donor[size_t(i)])] = true;
  for (int64_t i = 0; i < L; ++i)
    if (is_donor[size_t(i)]) donor_kv += 2 * N * c.layer_kv_heads[size_t(i)] * c.layer_head_dim[size_t(i)];
  m.activations_ckpt = (global + L * N * H + donor_kv) * ab + T * T;
  m.fake_quant_saved_ckpt = global_fq - head_fq;
  const int64_t head_phase = m.logits + 2 * N * V * ab + head_fq;
  const int64_t layer_phase = (largest_layer + 2 * largest_scores) * ab + largest_fq;
  m.backward_peak_ckpt = std::max(head_phase, layer_phase);
  return m;
}

}  // namespace gq
