#include "qat/fake_quant_autograd.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

namespace gq {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Passing the precomputed values as a plain struct keeps them out of autograd's input list.
struct Precomputed {
  at::Tensor y, in_range, step_grad, in_range_bits;
};

// y = fake_quant(x); dy/dx = mask (STE with clipping): a float mask, or one bit per value.
struct MaskedSTE : public torch::autograd::Function<MaskedSTE> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const Precomputed& p) {
    ctx->save_for_backward({p.in_range, p.in_range_bits});
    return p.y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    const auto saved = ctx->get_saved_variables();
    if (saved[1].defined()) return {apply_in_range_bits(g[0], saved[1]).view(g[0].sizes()), at::Tensor()};
    return {saved[0].defined() ? g[0] * saved[0] : g[0], at::Tensor()};
  }
};

// LSQ: x and the scale get gradients; step_grad is [rows, blocks, block] (one block per scale).
struct LsqFunction : public torch::autograd::Function<LsqFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& scale, const Precomputed& p,
                            double grad_scale) {
    ctx->save_for_backward({p.in_range, p.step_grad});
    ctx->saved_data["grad_scale"] = grad_scale;
    ctx->saved_data["scale_sizes"] = scale.sizes().vec();
    return p.y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    const auto saved = ctx->get_saved_variables();
    const double gs = ctx->saved_data["grad_scale"].toDouble();
    const auto sizes = ctx->saved_data["scale_sizes"].toIntVector();
    const at::Tensor gy = g[0].reshape(saved[1].sizes());
    const at::Tensor gx = (gy * saved[0]).reshape(g[0].sizes());
    at::Tensor gsc = (gy * saved[1]).sum(-1);  // per scale
    int64_t numel = 1;
    for (int64_t d : sizes) numel *= d;
    if (numel == 1) gsc = gsc.sum();
    return {gx, (gsc * gs).reshape(sizes), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor straight_through(const at::Tensor& x, const at::Tensor& y, const at::Tensor& in_range) {
  return MaskedSTE::apply(x, Precomputed{y, in_range, {}, {}});
}

at::Tensor straight_through(const at::Tensor& x, const RtnWithMask& r) {
  return MaskedSTE::apply(x, Precomputed{r.y, r.in_range, {}, r.in_range_bits});
}

at::Tensor lsq(const at::Tensor& x, const at::Tensor& scale, const ScaledFakeQuant& p, double grad_scale) {
  return LsqFunction::apply(x, scale, Precomputed{p.y, p.in_range, p.step_grad, {}}, grad_scale);
}

}  // namespace gq
