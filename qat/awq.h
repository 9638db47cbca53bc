// AWQ (Lin et al. 2023, "AWQ: Activation-aware Weight Quantization"; AutoAWQ and llm-compressor's
// AWQModifier): before round-to-nearest, each smooth -> balance pair (a per-channel op and the
// Linears it alone feeds) trades scale per input channel c: the balance Linears' columns W[:, c] are
// multiplied by s_c and the smooth op's output channel c divided by s_c. In float the model is
// unchanged; under RTN the salient channels (large mean |x|) get relatively finer steps.
//
//  - s(ratio) = x_mean^ratio / (w_mean^(1-ratio) + 1e-4), clamped at 1e-4, divided by
//    sqrt(max(s) · min(s)) (duo scaling; without it x_mean^ratio), inf / nan -> 1, ratio = k / n_grid
//    for k in [0, n_grid). x_mean: mean |x| per input channel over the calibration rows; w_mean: the
//    mean over the balance weights' rows of |w| / max |w| of its quantization block (the row for
//    channel-wise schemes).
//  - The ratio kept minimises the squared error of the balance Linears' outputs over the calibration
//    inputs, Σ_b ||X W_bᵀ − (X / s) Q_b(W_b · s)ᵀ||², Q_b the recipe's RTN of that Linear (identity
//    when it stays unquantized). Computed as Σ_b tr(Δ_b H Δ_bᵀ) with Δ_b = W_b − Q_b(W_b · s) / s and
//    H = 2 XᵀX / n (the same objective up to the factor n / 2), so one Hessian serves every ratio.
//    AutoAWQ measures the parent block's output instead (attention / MLP); here it is the Linears'.
//
// Mappings of a Gemma 4 decoder layer (docs/ptq.md, "AWQ"): only those whose fold is exact in float.
//   input_layernorm           -> q_proj, k_proj, v_proj (those the layer has)
//   pre_feedforward_layernorm -> gate_proj, up_proj
//   up_proj (its rows)        -> down_proj   (down's input is gelu(gate) · up: linear in up's rows)
// Gemma 4's RMSNorm multiplies by w itself (not 1 + w), so the norm folds as w / s; q/k/v_norm act
// on the projections' outputs, which the fold leaves unchanged. Not mapped: v_proj -> o_proj (v_norm,
// a scale-less RMSNorm per head, sits between them), the PLE gate (gelu on the gated path), o_proj,
// per_layer_projection and the head (no per-channel op of their own before them), MoE experts.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "quant/scheme.h"
#include "recipes/recipe.h"
#include "text/corpus.h"
#include "qat/gemma4_model.h"

namespace gq {

struct AwqOptions {
  int64_t n_grid = 20;
  bool duo_scaling = true;
};

// A Linear of a mapping: its weight [rows, cols] and the recipe's RTN scheme for it (none: the
// recipe leaves it unquantized).
struct AwqBalance {
  at::Tensor weight;
  std::optional<quant::WeightScheme> scheme;
};

struct AwqSearchResult {
  double ratio = 0;
  at::Tensor scale;       // [cols] float32, s at `ratio`
  double loss_rtn = 0;    // the objective at s = 1 (RTN of the weights as given)
  double loss_awq = 0;    // the objective at `scale`
};

// w_mean of the balance weights (cols equal), float64 [cols].
at::Tensor awq_weight_mean(const std::vector<AwqBalance>& balance);
// s at `ratio` from x_mean, w_mean ([cols] each), float64 [cols].
at::Tensor awq_candidate_scale(const at::Tensor& x_mean, const at::Tensor& w_mean, double ratio, bool duo_scaling);
// Σ_b tr(Δ_b H Δ_bᵀ), Δ_b = W_b − Q_b(W_b · s) / s.
double awq_loss(const std::vector<AwqBalance>& balance, const at::Tensor& scale, const at::Tensor& hessian);
// The grid search: the first ratio of least loss.
AwqSearchResult awq_search(const std::vector<AwqBalance>& balance, const at::Tensor& x_mean, const at::Tensor& hessian,
                           const AwqOptions& opt = {});

// One smooth -> balance pair of a decoder layer (the table above).
struct AwqMapping {
  std::string smooth_name;              // "layers.3.input_layernorm", "layers.3.mlp.up_proj"
  at::Tensor smooth;                    // a norm's weight [cols], or a Linear's weight [cols, in] (its rows)
  std::vector<std::string> balance_names;
  std::vector<QLinear> balance;         // their weights [out, cols]; all read one input
};
std::vector<AwqMapping> awq_layer_mappings(Gemma4Model& model, int64_t layer);
// smooth /= s (per channel), balance columns *= s, in place; exact in float (in float32 up to
// rounding, bit-exact for powers of two).
void awq_fold(const AwqMapping& mapping, const at::Tensor& scale);

struct AwqMappingReport {
  std::string smooth;                 // "layers.3.input_layernorm"
  std::vector<std::string> balance;   // "layers.3.self_attn.q_proj", ...
  int64_t samples = 0;                // calibration rows seen
  bool searched = false;              // false: never reached or no balance Linear quantized (left unscaled)
  double ratio = 0, loss_rtn = 0, loss_awq = 0;
};

// Searches and folds every mapping of every decoder layer in place, layer by layer (one calibration
// pass per layer, the model in float: every quantizer off; folds earlier in the pass are exact, so
// the inputs are the float model's). The model keeps float weights: the caller applies the recipe.
// `recipe` names each balance Linear's scheme. `progress(layer, layers)` after each layer.
std::vector<AwqMappingReport> awq_smooth_model(Gemma4Model& model, const ResolvedRecipe& recipe, const TokenWindows& calib,
                                               int64_t batch_size, int64_t max_batches, const AwqOptions& opt,
                                               const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace gq
