#include "qat/activation_quantizer.h"

#include <cmath>
#include <sstream>

#include <ATen/ATen.h>

#include "io/error.h"
#include "quant/rounding.h"
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

constexpr int64_t kMemoValues = int64_t(1) << 14;

}  // namespace

ActivationQuantizer::ActivationQuantizer(quant::ActivationScheme scheme, std::string observer_kind, bool learnable)
    : observer(std::move(observer_kind)), scheme_(scheme) {
  quant::validate(scheme_);
  if (learnable)
    learned_.create(*this, at::ones({1}, at::kFloat), quant::scale_tiny(scheme_.compute_dtype), /*signed_scale=*/false);
  else
    fixed_scale_ = register_buffer("scale", at::ones({1}, at::kFloat));
}

at::Tensor ActivationQuantizer::scale_tensor() const { return learned_.defined() ? learned_.value() : fixed_scale_; }

void ActivationQuantizer::set_params(const quant::ActivationParams& p) {
  at::NoGradGuard ng;
  if (learned_.defined())
    learned_.reset(at::full({1}, p.scale, at::kFloat));
  else
    fixed_scale_.fill_(p.scale);
  zero_point_ = p.zero_point;
  calibrated_ = true;
  last_input_ = last_output_ = at::Tensor();  // the zero point may have changed
}

bool ActivationQuantizer::finish_calibration() {
  if (!observer.seen()) return false;
  observed_range = observer.range(scheme_);
  set_params(quant::activation_params_from_range(scheme_, observed_range.first, observed_range.second));
  return true;
}

quant::ActivationParams ActivationQuantizer::params() const {
  const float s = scale_tensor().detach().item<float>();
  return quant::ActivationParams{quant::round_scale_to(s, scheme_.compute_dtype), zero_point_};
}

at::Tensor ActivationQuantizer::forward(const at::Tensor& x) {
  if (observing_) observer.observe(x);
  if (observing_ || !calibrated_) return x;
  const at::Tensor scale = scale_tensor();
  // Inference: the codec in one pass, the same floats as the tensor ops (tests/qat/fake_quant_test.cpp)
  // without their dozen temporaries and gradient masks per seam.
  if (!at::GradMode::is_enabled() && scale.device().is_cpu() && scale.scalar_type() == at::kFloat) {
    const float s = *scale.data_ptr<float>();
    if (x.is_same(last_input_) && x._version() == last_version_ && s == last_scale_) return last_output_;
    last_input_ = last_output_ = at::Tensor();
    if (at::Tensor y = fake_quant_activation_cpu(scheme_, x, s, zero_point_); y.defined()) {
      // Kept only for a decode step's few values: a long sequence's would hold its activations.
      if (x.numel() <= kMemoValues) last_input_ = x, last_output_ = y, last_version_ = x._version(), last_scale_ = s;
      return y;
    }
  }
  ScaledFakeQuant r;
  {
    at::NoGradGuard ng;
    r = fake_quant_activation_tensor(scheme_, x.detach(), scale.detach(), zero_point_);
  }
  if (!learned_.defined()) return straight_through(x, r.y, r.in_range.reshape(x.sizes()));
  const double grad_scale = 1.0 / std::sqrt(double(x.numel()) * double(scheme_.qmax()));
  return lsq(x, scale, r, grad_scale);
}

std::map<std::string, at::Tensor> ActivationQuantizer::saved_state() {
  std::map<std::string, at::Tensor> out = TensorQuantizer::saved_state();
  if (learned_.defined()) out["scale"] = learned_.value().detach();
  return out;
}

void ActivationQuantizer::load_saved_state(const StateLookup& saved, const std::string& where) {
  if (learned_.defined() && !saved("init_scale") && saved("scale")) {
    if (saved("scale")->numel() != 1) throw FormatError("quantization state '" + where + "scale' has the wrong shape");
    learned_.reset(*saved("scale"));
    return;
  }
  TensorQuantizer::load_saved_state(saved, where);
}

std::vector<at::Tensor> ActivationQuantizer::scale_parameters() {
  if (!learned_.defined()) return {};
  return {learned_.log_ratio};
}

std::string ActivationQuantizer::describe() const {
  std::string d = quant::activation_scheme_name(scheme_) + " static";
  if (calibrated_) d += " (scale " + fmt(params().scale) + (zero_point_ ? ", zero point " + std::to_string(zero_point_) : "") + ")";
  else d += " (not calibrated: pass-through)";
  return d + (learned_.defined() ? ", learnable" : "");
}

}  // namespace gq
