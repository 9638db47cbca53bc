#include "qat/weight_quantizer.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "qat/fake_quant_autograd.h"
#include "qat/fake_quant_ops.h"

namespace gq {

WeightQuantizer::WeightQuantizer(quant::WeightScheme scheme, const at::Tensor& init, bool learnable) : scheme_(scheme) {
  quant::validate(scheme_);
  if (!learnable) return;
  at::NoGradGuard ng;
  const at::Tensor w2 = init.reshape({-1, init.size(-1)}).detach();
  auto [s, z] = weight_rtn_params(scheme_, w2);
  scale = register_parameter("scale", s.contiguous());
  if (z.defined()) zero_point = register_buffer("zero_point", z.contiguous());
}

at::Tensor WeightQuantizer::forward(const at::Tensor& w) {
  const at::Tensor w2 = w.reshape({-1, w.size(-1)});
  if (!scale.defined()) {
    at::Tensor mask;
    at::Tensor y;
    {
      at::NoGradGuard ng;
      y = fake_quant_weight_rtn(scheme_, w2.detach(), &mask);
    }
    return straight_through(w2, y, mask).reshape(w.sizes());
  }
  ScaledFakeQuant r;
  {
    at::NoGradGuard ng;
    r = fake_quant_weight_scaled(scheme_, w2.detach(), scale.detach(), zero_point);
  }
  const int64_t per_scale = scheme_.block_size(w2.size(1));
  const double grad_scale = 1.0 / std::sqrt(double(per_scale) * double(std::max(1, scheme_.qmax())));
  r.y = r.y.reshape(w2.sizes());
  return lsq(w2, scale, r, grad_scale).reshape(w.sizes());
}

std::string WeightQuantizer::describe() const {
  return quant::weight_scheme_name(scheme_) + (scale.defined() ? " (learned scales)" : " (RTN)");
}

}  // namespace gq
