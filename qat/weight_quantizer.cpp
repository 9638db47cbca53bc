#include "qat/weight_quantizer.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "io/error.h"
#include "quant/rounding.h"
#include "qat/fake_quant_autograd.h"
#include "qat/fake_quant_ops.h"

namespace gq {

WeightQuantizer::WeightQuantizer(quant::WeightScheme scheme, const at::Tensor& init, bool learnable) : scheme_(scheme) {
  quant::validate(scheme_);
  if (!learnable) return;
  at::NoGradGuard ng;
  const at::Tensor w2 = init.reshape({-1, init.size(-1)}).detach();
  auto [s, z] = weight_rtn_params(scheme_, w2);
  learned_.create(*this, s.contiguous(), quant::scale_tiny(scheme_.scale_dtype), scheme_.is_gguf());
  if (z.defined()) zero_point = register_buffer("zero_point", z.contiguous());
}

at::Tensor WeightQuantizer::scale() const { return learned_.defined() ? learned_.value().detach() : at::Tensor(); }

at::Tensor WeightQuantizer::forward(const at::Tensor& w) {
  const at::Tensor w2 = w.reshape({-1, w.size(-1)});
  // Inference: no gradient mask (and small gathers take the codec, fake_quant_weight_rtn).
  if (!learned_.defined() && !at::GradMode::is_enabled()) return fake_quant_weight_rtn(scheme_, w2).reshape(w.sizes());
  if (!learned_.defined()) {
    RtnWithMask r;
    {
      at::NoGradGuard ng;
      r = fake_quant_weight_rtn_with_mask(scheme_, w2.detach());
    }
    return straight_through(w2, r).reshape(w.sizes());
  }
  const at::Tensor s = learned_.value();
  ScaledFakeQuant r;
  {
    at::NoGradGuard ng;
    r = fake_quant_weight_scaled(scheme_, w2.detach(), s.detach(), zero_point);
  }
  const int64_t per_scale = scheme_.block_size(w2.size(1));
  const double grad_scale = 1.0 / std::sqrt(double(per_scale) * double(std::max(1, scheme_.qmax())));
  r.y = r.y.reshape(w2.sizes());
  return lsq(w2, s, r, grad_scale).reshape(w.sizes());
}

std::map<std::string, at::Tensor> WeightQuantizer::saved_state() {
  std::map<std::string, at::Tensor> out = TensorQuantizer::saved_state();
  if (learned_.defined()) out["scale"] = scale();
  return out;
}

void WeightQuantizer::load_saved_state(const StateLookup& saved, const std::string& where) {
  if (learned_.defined() && !saved("init_scale") && saved("scale")) {
    const at::Tensor* s = saved("scale");
    if (s->sizes() != learned_.init_scale.sizes())
      throw FormatError("quantization state '" + where + "scale' has the wrong shape");
    learned_.reset(*s);
    if (!zero_point.defined()) return;
    const at::Tensor* z = saved("zero_point");
    if (!z) throw FormatError("quantization state lacks '" + where + "zero_point'");
    at::NoGradGuard ng;
    zero_point.copy_(*z);
    return;
  }
  TensorQuantizer::load_saved_state(saved, where);
}

std::vector<at::Tensor> WeightQuantizer::scale_parameters() {
  if (!learned_.defined()) return {};
  return {learned_.log_ratio};
}

std::string WeightQuantizer::describe() const {
  return quant::weight_scheme_name(scheme_) + (learned_.defined() ? " (learned scales)" : " (RTN)");
}

}  // namespace gq
