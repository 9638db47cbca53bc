#include "qat/activation_quantizer.h"

#include <cmath>
#include <sstream>

#include <ATen/ATen.h>

#include "qat/fake_quant_autograd.h"
#include "qat/fake_quant_ops.h"

namespace gq {
namespace {

std::string fmt(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

}  // namespace

ActivationQuantizer::ActivationQuantizer(quant::ActivationScheme scheme, std::string observer_kind, bool learnable)
    : observer(std::move(observer_kind)), scheme_(scheme), learnable_(learnable) {
  quant::validate(scheme_);
  scale = learnable ? register_parameter("scale", at::ones({1}, at::kFloat)) : register_buffer("scale", at::ones({1}, at::kFloat));
}

void ActivationQuantizer::set_params(const quant::ActivationParams& p) {
  at::NoGradGuard ng;
  scale.fill_(p.scale);
  zero_point_ = p.zero_point;
  calibrated_ = true;
}

bool ActivationQuantizer::finish_calibration() {
  if (!observer.seen()) return false;
  observed_range = observer.range(scheme_);
  set_params(quant::activation_params_from_range(scheme_, observed_range.first, observed_range.second));
  return true;
}

quant::ActivationParams ActivationQuantizer::params() const {
  return quant::ActivationParams{scale.item<float>(), zero_point_};
}

at::Tensor ActivationQuantizer::forward(const at::Tensor& x) {
  if (observing_) observer.observe(x);
  if (observing_ || !calibrated_) return x;
  ScaledFakeQuant r;
  {
    at::NoGradGuard ng;
    r = fake_quant_activation_tensor(scheme_, x.detach(), scale.detach(), zero_point_);
  }
  if (!learnable_) return straight_through(x, r.y, r.in_range.reshape(x.sizes()));
  const double grad_scale = 1.0 / std::sqrt(double(x.numel()) * double(scheme_.qmax()));
  return lsq(x, scale, r, grad_scale);
}

std::string ActivationQuantizer::describe() const {
  std::string d = quant::activation_scheme_name(scheme_) + " static";
  if (calibrated_) d += " (scale " + fmt(scale.item<double>()) + (zero_point_ ? ", zero point " + std::to_string(zero_point_) : "") + ")";
  else d += " (not calibrated: pass-through)";
  return d + (learnable_ ? ", learnable" : "");
}

}  // namespace gq
