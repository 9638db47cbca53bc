// Running statistics of a tensor for calibration: the observer kinds that recipes name
// ("minmax", "moving_minmax", "percentile", "mse").
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include <ATen/core/Tensor.h>

#include "quant/scheme.h"

namespace gq {

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

}  // namespace gq
