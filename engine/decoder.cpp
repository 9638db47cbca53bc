#include "engine/decoder.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/activation_quant.h"
#include "engine/attention.h"
#include "engine/moe.h"
#include "engine/rope.h"
#include "io/error.h"

namespace gq::engine {

namespace {

// Rows `ids` of a [rows, cols] table, times `scale`.
Matrix gather_rows(const Tensor& table, const std::vector<int32_t>& ids, float scale) {
  const int64_t cols = table.shape[1];
  Matrix out(int64_t(ids.size()), cols);
  for (size_t t = 0; t < ids.size(); ++t) {
    float* row = out.row(int64_t(t)).data();
    tensor_row(table, int64_t(ids[t]), row);  // a packed table's row dequantized as exact mode's
    for (int64_t i = 0; i < cols; ++i) row[i] *= scale;
  }
  return out;
}

void check_ids(const ModelWeights& w, const std::vector<int32_t>& ids, int64_t pos) {
  const Gemma4Config& c = w.config();
  // A token without a PLE row has no defined per-layer input: refused rather than guessed.
  const int64_t limit = c.has_ple() ? std::min(c.vocab_size, c.vocab_size_per_layer_input) : c.vocab_size;
  for (size_t t = 0; t < ids.size(); ++t) {
    if (ids[t] < 0 || ids[t] >= limit)
      throw FormatError(w.source() + ": token id " + std::to_string(ids[t]) + " at position " + std::to_string(pos + int64_t(t)) +
                        " is outside the vocabulary (" + std::to_string(limit) + " ids)");
  }
}

// Per-layer embeddings, [T, L * P]: the token's PLE row (times sqrt(P)) plus the RMS-normed
// projection of the scaled embedding (times H^-0.5), the sum times 2^-0.5. Layer i reads columns
// [i * P, (i + 1) * P).
Matrix per_layer_inputs(const ModelWeights& w, const std::vector<int32_t>& ids, const Matrix& embedded) {
  const Gemma4Config& c = w.config();
  const int64_t P = c.hidden_size_per_layer_input;
  const Matrix tok = gather_rows(w.get("embed_tokens_per_layer.weight"), ids, float(std::sqrt(double(P))));
  Matrix proj = quantized_linear(w, embedded, "per_layer_model_projection") * float(std::pow(double(c.hidden_size), -0.5));
  rms_norm(proj, P, &w.get("per_layer_projection_norm.weight"), c.rms_norm_eps);
  return (proj + tok) * float(std::pow(2.0, -0.5));
}

// Exact mode: gelu_pytorch_tanh; fast mode: ggml's fp16 table, as llama.cpp computes it.
using Gelu = float (*)(float);
Gelu gelu_of(const ModelWeights& w) { return w.form() == WeightForm::Fast ? gelu_tanh_f16_table : gelu_tanh; }

Matrix gelu_times(Gelu gelu, const Matrix& gate, const Matrix& up) {
  Matrix out(gate.rows(), gate.cols());
  for (int64_t r = 0; r < gate.rows(); ++r)
    for (int64_t i = 0; i < gate.cols(); ++i) out(r, i) = gelu(gate(r, i)) * up(r, i);
  return out;
}

// One decoder layer, in place on the residual stream x (rows at positions state.position..). The
// layer's K/V rows are appended to its cache before attending, so a KV-shared layer later in the
// chunk reads its donor's (HF: the last non-shared layer of the same type) including this chunk.
void decoder_layer(const ModelWeights& w, int64_t il, Matrix& x, const Matrix* ple, DecoderState& state) {
  const Gemma4Config& c = w.config();
  const std::string p = "layers." + std::to_string(il) + ".";
  const double eps = c.rms_norm_eps;
  const int64_t H = c.hidden_size, hd = c.layer_head_dim[size_t(il)], nkv = c.layer_kv_heads[size_t(il)];
  const int64_t pos = state.position;
  const std::vector<float> inv = rope_inv_freq(c.rope(il), hd);

  // Attention.
  Matrix h = x;
  rms_norm(h, H, &w.get(p + "input_layernorm.weight"), eps);
  Matrix q = quantized_linear(w, h, p + "self_attn.q_proj");
  rms_norm(q, hd, &w.get(p + "self_attn.q_norm.weight"), eps);
  apply_rope(q, hd, inv, pos);
  const int donor = c.kv_donor[size_t(il)];
  if (donor < 0) {
    Matrix k = quantized_linear(w, h, p + "self_attn.k_proj");
    // K=V full layers have no v_proj: V is the raw K projection, before k_norm and RoPE.
    Matrix v = c.has_v_proj(il) ? quantized_linear(w, h, p + "self_attn.v_proj") : k;
    rms_norm(k, hd, &w.get(p + "self_attn.k_norm.weight"), eps);
    apply_rope(k, hd, inv, pos);
    rms_norm(v, hd, nullptr, eps);  // v_norm: RMSNorm without a weight
    quantize_kv(w, k, hd);
    quantize_kv(w, v, hd);
    state.kv[size_t(il)].append(k, v);
  }
  const LayerKV& kv = state.kv[size_t(donor < 0 ? il : int64_t(donor))];
  if (kv.end_position() != pos + x.rows())
    throw FormatError(w.source() + ": layer " + std::to_string(il) + " shares K/V of layer " + std::to_string(donor) +
                      ", which has not computed them for this chunk");
  const AttentionShape shape{c.num_attention_heads, nkv, hd, c.is_sliding(il) ? c.sliding_window : 0};
  Matrix a = quantized_linear(w, attend(q, kv.k(), kv.v(), shape, pos, kv.first_position()), p + "self_attn.o_proj");
  rms_norm(a, H, &w.get(p + "post_attention_layernorm.weight"), eps);
  x += a;

  // Feed-forward: the dense GeGLU MLP, plus on MoE layers the expert branch, each post-normed.
  Matrix hm = x;
  rms_norm(hm, H, &w.get(p + "pre_feedforward_layernorm.weight"), eps);
  const Gelu gelu = gelu_of(w);
  Matrix f = quantized_linear(w, gelu_times(gelu, quantized_linear(w, hm, p + "mlp.gate_proj"), quantized_linear(w, hm, p + "mlp.up_proj")),
                              p + "mlp.down_proj");
  if (c.enable_moe_block) {
    rms_norm(f, H, &w.get(p + "post_feedforward_layernorm_1.weight"), eps);
    f += moe_block(w, p, x);
  }
  rms_norm(f, H, &w.get(p + "post_feedforward_layernorm.weight"), eps);
  x += f;

  // Per-layer embedding: a gated P-wide slice of the PLE mixed back into the stream.
  if (ple) {
    const int64_t P = c.hidden_size_per_layer_input;
    const Matrix gate = quantized_linear(w, x, p + "per_layer_input_gate");
    Matrix g(gate.rows(), P);
    for (int64_t t = 0; t < gate.rows(); ++t)
      for (int64_t i = 0; i < P; ++i) g(t, i) = gelu(gate(t, i)) * (*ple)(t, il * P + i);
    Matrix back = quantized_linear(w, g, p + "per_layer_projection");
    rms_norm(back, H, &w.get(p + "post_per_layer_input_norm.weight"), eps);
    x += back;
  }
  if (const Tensor* s = w.find(p + "layer_scalar")) x *= s->data[0];
}

}  // namespace

Matrix decode_chunk(const ModelWeights& w, const std::vector<int32_t>& ids, DecoderState& state, LogitRows rows) {
  const Gemma4Config& c = w.config();
  if (ids.empty()) throw FormatError(w.source() + ": no tokens to run at position " + std::to_string(state.position));
  check_ids(w, ids, state.position);
  state.kv.resize(size_t(c.L()));
  // HF keeps sqrt(H) as a float32 buffer (exact in a float32 model).
  Matrix x = gather_rows(w.get("embed_tokens.weight"), ids, float(std::sqrt(double(c.hidden_size))));
  Matrix ple;
  if (c.has_ple()) ple = per_layer_inputs(w, ids, x);
  for (int64_t il = 0; il < c.L(); ++il) decoder_layer(w, il, x, c.has_ple() ? &ple : nullptr, state);
  // Only now may sliding layers forget: KV-shared layers of this chunk read the full rows. A query
  // at position p sees p - window + 1 .. p, so window - 1 rows would do; the window is kept.
  for (int64_t il = 0; il < c.L(); ++il)
    if (c.is_sliding(il)) state.kv[size_t(il)].keep_last(c.sliding_window);
  state.position += int64_t(ids.size());

  if (rows == LogitRows::Last) x = Matrix(x.bottomRows(1));
  rms_norm(x, c.hidden_size, &w.get("norm.weight"), c.rms_norm_eps);
  Matrix out = quantized_linear(w, x, "lm_head", w.head());
  if (c.final_logit_softcapping && *c.final_logit_softcapping > 0) {
    const double cap = *c.final_logit_softcapping;
    for (int64_t t = 0; t < out.rows(); ++t)
      for (int64_t i = 0; i < out.cols(); ++i) out(t, i) = float(std::tanh(double(out(t, i)) / cap) * cap);
  }
  return out;
}

}  // namespace gq::engine
