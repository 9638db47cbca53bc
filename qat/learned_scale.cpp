#include "qat/learned_scale.h"

#include <ATen/ATen.h>

#include "qat/fake_quant_autograd.h"

namespace gq {

void LearnedScale::create(torch::nn::Module& owner, const at::Tensor& init, float tiny_, bool signed_) {
  tiny = tiny_;
  signed_scale = signed_;
  init_scale = owner.register_buffer("init_scale", init.detach().to(at::kFloat).contiguous().clone());
  log_ratio = owner.register_parameter("log_scale_ratio", at::zeros_like(init_scale));
}

void LearnedScale::reset(const at::Tensor& init) {
  at::NoGradGuard ng;
  const at::Tensor v = init.to(init_scale.device()).to(at::kFloat).reshape(init_scale.sizes());
  const at::Tensor mag = v.abs().clamp_min(tiny);
  init_scale.copy_(signed_scale ? at::where(v < 0, -mag, mag) : mag);
  log_ratio.zero_();
}

at::Tensor LearnedScale::value() const {
  const at::Tensor s = init_scale * at::exp(log_ratio);
  at::Tensor floored;
  {
    at::NoGradGuard ng;
    const at::Tensor sd = s.detach();
    floored = at::where(sd.abs() < tiny, at::where(sd < 0, at::full_like(sd, -tiny), at::full_like(sd, tiny)), sd);
  }
  return straight_through(s, floored, at::Tensor());
}

}  // namespace gq
