// The fake-quant module of an activation seam (a Linear's or the head's input or output): static
// per-tensor quantization with a calibrated (or loaded, or learned LSQ) scale and zero point. Until
// calibrated, or while observing, it passes values through and records them. A learned scale is
// valid by construction (learned_scale.h).
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include <ATen/core/Tensor.h>

#include "quant/activation.h"
#include "quant/scheme.h"
#include "qat/learned_scale.h"
#include "qat/quantizer.h"
#include "qat/range_observer.h"

namespace gq {

class ActivationQuantizer : public TensorQuantizer {
 public:
  ActivationQuantizer(quant::ActivationScheme scheme, std::string observer, bool learnable);
  at::Tensor forward(const at::Tensor& x) override;
  std::string describe() const override;
  // Learnable: adds "scale" (as used) to the parameters and buffers, and reads a run saved with
  // only "scale" as that starting point.
  std::map<std::string, at::Tensor> saved_state() override;
  void load_saved_state(const StateLookup& saved, const std::string& where) override;
  std::vector<at::Tensor> scale_parameters() override;

  void set_observing(bool on) { observing_ = on; }
  // Fixes scale and zero point (from a calibrated range or a file).
  void set_params(const quant::ActivationParams& p);
  // Uses the observer's range; returns false if nothing was observed.
  bool finish_calibration();
  bool calibrated() const { return calibrated_; }
  // The scale as the runtime holds it (rounded to the scheme's compute dtype) and the zero point.
  quant::ActivationParams params() const;
  const quant::ActivationScheme& scheme() const { return scheme_; }
  RangeObserver observer;
  std::pair<float, float> observed_range;  // what finish_calibration used

 private:
  at::Tensor scale_tensor() const;  // [1]; differentiable when learnable

  quant::ActivationScheme scheme_;
  at::Tensor fixed_scale_;  // [1] buffer "scale" (not learnable)
  LearnedScale learned_;    // learnable
  bool observing_ = false;
  bool calibrated_ = false;
  int32_t zero_point_ = 0;
  // Inference: q/k/v (and gate/up) share this quantizer and read one tensor; the last input (same
  // tensor, unmodified, same scale; up to 16k values) gets the last output back, not a second pass.
  at::Tensor last_input_, last_output_;
  uint32_t last_version_ = 0;
  float last_scale_ = 0;
};

}  // namespace gq
