// The fake-quant module of an activation seam: static per-tensor quantization with a calibrated
// (or loaded, or learned LSQ) scale and zero point. Until calibrated, or while observing, it passes
// values through and records them.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include <ATen/core/Tensor.h>

#include "quant/activation.h"
#include "quant/scheme.h"
#include "qat/quantizer.h"
#include "qat/range_observer.h"

namespace gq {

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

}  // namespace gq
