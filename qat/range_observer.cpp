#include "qat/range_observer.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

#include "quant/activation.h"
#include "qat/fake_quant_ops.h"

namespace gq {

RangeObserver::RangeObserver(std::string kind, double ema, double percentile)
    : kind_(std::move(kind)), ema_(ema), percentile_(percentile) {}

void RangeObserver::observe(const at::Tensor& x_in) {
  at::NoGradGuard ng;
  const at::Tensor x = x_in.detach().to(at::kFloat).reshape(-1);
  if (x.numel() == 0) return;
  const float lo = x.min().item<float>(), hi = x.max().item<float>();
  if (kind_ == "moving_minmax" && batches_ > 0) {
    min_ = float(ema_ * min_ + (1 - ema_) * lo);
    max_ = float(ema_ * max_ + (1 - ema_) * hi);
  } else if (batches_ == 0) {
    min_ = lo, max_ = hi;
  } else {
    min_ = std::min(min_, lo), max_ = std::max(max_, hi);
  }
  if (kind_ == "percentile" || kind_ == "mse") {
    // Keep a bounded random sample: enough for the 99.99th percentile and for an MSE search.
    constexpr int64_t kKeep = 1 << 18;
    const auto long_on_device = x.options().dtype(at::kLong);
    at::Tensor pick = x.numel() > kKeep ? x.index_select(0, at::randint(x.numel(), {kKeep}, long_on_device)) : x;
    sample_ = sample_.defined() ? at::cat({sample_, pick}) : pick.clone();
    if (sample_.numel() > 4 * kKeep)
      sample_ = sample_.index_select(0, at::randint(sample_.numel(), {kKeep}, long_on_device));
  }
  ++batches_;
}

std::pair<float, float> RangeObserver::range(const quant::ActivationScheme& scheme) const {
  if (kind_ == "percentile" && sample_.defined()) {
    const double q = percentile_ / 100.0;
    const float lo = at::quantile(sample_, 1.0 - q).item<float>();
    const float hi = at::quantile(sample_, q).item<float>();
    return {std::min(lo, 0.0f), std::max(hi, 0.0f)};
  }
  if (kind_ == "mse" && sample_.defined()) {
    // Shrink the min/max range by a factor in [0.3, 1] and keep the one with the least error.
    float best_a = 1.0f;
    double best_err = std::numeric_limits<double>::infinity();
    for (int i = 0; i <= 70; ++i) {
      const float a = 1.0f - 0.01f * float(i);
      const quant::ActivationParams p = quant::activation_params_from_range(scheme, min_ * a, max_ * a);
      const at::Tensor y =
          fake_quant_activation_tensor(scheme, sample_, at::full({1}, p.scale, at::kFloat), p.zero_point).y;
      const double err = (y - sample_).pow(2).mean().item<double>();
      if (err < best_err) best_err = err, best_a = a;
    }
    return {min_ * best_a, max_ * best_a};
  }
  return {min_, max_};
}

}  // namespace gq
