// Fake quantization in LibTorch: the torch twin of every codec's fake-quant reference in
// formats/quant (same operations in the same order, so the floats are bit-identical on CPU; the
// tests compare them), wrapped in autograd functions and in the TensorQuantizer modules that the
// model's seams hold.
//
// Gradients: a straight-through estimator with a clipping mask (no gradient where the value was
// clamped), and LSQ for learnable scales (Esser et al.: d/ds = (level - z) - x/s inside the range,
// (level - z) at the clamps, times 1/sqrt(values_per_scale * qmax)). A scale's storage rounding
// (fp16 for GGUF blocks, bf16/f16 scale dtypes) is straight-through as well.
#pragma once
#include <optional>
#include <string>

#include <ATen/ATen.h>

#include "quant/activation.h"
#include "quant/kv.h"
#include "quant/scheme.h"
#include "quant/uniform.h"
#include "qat/quantizer.h"

namespace gq {

// ---- Pure tensor functions (no autograd), the exact twins of the codec references. --------------

// RTN with the scheme's own scale rule on a [rows, cols] float32 tensor. `grad_mask`, if given,
// receives a float mask of the values that were not clamped.
at::Tensor fake_quant_weight_rtn(const quant::WeightScheme& s, const at::Tensor& w, at::Tensor* grad_mask = nullptr);
// The same in tensor operations only (any device): what fake_quant_weight_rtn runs off the CPU fast
// path. Tested against the codecs on the CPU so the CUDA path is covered too.
at::Tensor fake_quant_weight_rtn_tensor_ops(const quant::WeightScheme& s, const at::Tensor& w,
                                            at::Tensor* grad_mask = nullptr);
// RTN parameters (the codec's rule) as tensors: scales [rows, cols/block], zero points (asymmetric
// group schemes; otherwise undefined). The initial values of learnable scales.
std::pair<at::Tensor, at::Tensor> weight_rtn_params(const quant::WeightScheme& s, const at::Tensor& w);
// Given scales (and zero points): returns y and fills the pieces LSQ needs.
struct ScaledFakeQuant {
  at::Tensor y;          // [rows, cols]
  at::Tensor in_range;   // float mask: value not clamped
  at::Tensor step_grad;  // dy/ds per value: (level - z) - in_range * x/s
};
ScaledFakeQuant fake_quant_weight_scaled(const quant::WeightScheme& s, const at::Tensor& w, const at::Tensor& scales,
                                         const at::Tensor& zero_points);

// Per-tensor static activations with scale (and zero point).
ScaledFakeQuant fake_quant_activation_tensor(const quant::ActivationScheme& s, const at::Tensor& x, const at::Tensor& scale,
                                             int32_t zero_point);
// KV cache: per-row (last dim) dynamic scale.
at::Tensor fake_quant_kv_tensor(const quant::KvScheme& s, const at::Tensor& x);

// ---- Quantizer modules for the model's seams. ---------------------------------------------------

// Weight (or embedding rows, head, expert bank): input [rows, cols] or [E, rows, cols] (flattened).
class WeightQuantizer : public TensorQuantizer {
 public:
  // learnable: LSQ scales initialised with the RTN rule on `init`; otherwise RTN every forward.
  WeightQuantizer(quant::WeightScheme scheme, const at::Tensor& init, bool learnable);
  at::Tensor forward(const at::Tensor& w) override;
  std::string describe() const override;

  const quant::WeightScheme& scheme() const { return scheme_; }
  bool learnable() const { return scale.defined(); }
  at::Tensor scale;        // [rows, blocks] parameter (learnable only)
  at::Tensor zero_point;   // [rows, blocks] buffer (asymmetric learnable only)

 private:
  quant::WeightScheme scheme_;
};

// Running statistics of a tensor for calibration (the observer names of recipes).
class RangeObserver {
 public:
  explicit RangeObserver(std::string kind = "minmax", double ema = 0.95, double percentile = 99.99);
  void observe(const at::Tensor& x);
  bool seen() const { return batches_ > 0; }
  // The calibrated range [min, max]; for "mse" the clipping that minimises the fake-quant error
  // of the collected sample under `scheme`.
  std::pair<float, float> range(const quant::ActivationScheme& scheme) const;
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
  double ema_, percentile_;
  int64_t batches_ = 0;
  float min_ = 0, max_ = 0;
  at::Tensor sample_;  // bounded random sample of values (percentile, mse)
};

// Static per-tensor activation quantization. Until calibrated (or while observing) it passes
// values through and records them.
class ActivationQuantizer : public TensorQuantizer {
 public:
  ActivationQuantizer(quant::ActivationScheme scheme, std::string observer, bool learnable);
  at::Tensor forward(const at::Tensor& x) override;
  std::string describe() const override;

  void set_observing(bool on) { observing_ = on; }
  // Fixes scale and zero point (from a calibrated range or a file).
  void set_params(const quant::ActivationParams& p);
  // Uses the observer's range; returns false if nothing was observed.
  bool finish_calibration();
  bool calibrated() const { return calibrated_; }
  quant::ActivationParams params() const;
  const quant::ActivationScheme& scheme() const { return scheme_; }
  RangeObserver observer;
  std::pair<float, float> observed_range;  // what finish_calibration used

  at::Tensor scale;  // [1]; a parameter when learnable
 private:
  quant::ActivationScheme scheme_;
  bool learnable_;
  bool observing_ = false;
  bool calibrated_ = false;
  int32_t zero_point_ = 0;
};

// K after RoPE / V after its norm, quantized per (token, head) row along head_dim.
class KvQuantizer : public TensorQuantizer {
 public:
  explicit KvQuantizer(quant::KvScheme scheme);
  at::Tensor forward(const at::Tensor& x) override;
  std::string describe() const override;
  void set_observing(bool on) { observing_ = on; }
  RangeObserver observer{"minmax"};  // per-tensor range, for exporters that need static K/V scales

 private:
  quant::KvScheme scheme_;
  bool observing_ = false;
};

}  // namespace gq
