#include "qat/gptq.h"

#include <vector>

#include <ATen/ATen.h>

#include "io/error.h"
#include "qat/fake_quant_ops.h"

namespace gq {

GptqResult gptq_quantize(const quant::WeightScheme& scheme, const at::Tensor& w_in, const at::Tensor& hessian,
                         const GptqOptions& opt) {
  at::NoGradGuard ng;
  const int64_t R = w_in.size(0), C = w_in.size(1);
  const int64_t group = scheme.block_size(C), groups = scheme.scales_per_row(C);
  if (hessian.dim() != 2 || hessian.size(0) != C || hessian.size(1) != C)
    throw FormatError("gptq: the Hessian is not [" + std::to_string(C) + ", " + std::to_string(C) + "]");
  const at::Tensor w32 = w_in.to(at::kFloat).contiguous();
  at::Tensor H = hessian.to(at::kDouble).clone();
  at::Tensor W = w32.to(at::kDouble);

  const at::Tensor dead = H.diagonal() == 0;
  H.diagonal().masked_fill_(dead, 1.0);

  at::Tensor perm = opt.act_order ? at::argsort(H.diagonal(), /*dim=*/0, /*descending=*/true) : at::arange(C, at::kLong);
  const at::Tensor invperm = at::argsort(perm);
  W = W.index_select(1, perm);
  H = H.index_select(0, perm).index_select(1, perm);
  const double damp = opt.percdamp * H.diagonal().mean().item<double>();
  H.diagonal().add_(damp);
  // U upper with U^T U = H^-1: row i of U, divided by U_ii, is the OBQ update of column i.
  const at::Tensor L = at::linalg_cholesky(H);
  const at::Tensor U = at::linalg_cholesky(at::cholesky_inverse(L), /*upper=*/true);

  // Scales per group (original column order), fixed when the group's first column comes up.
  at::Tensor scale = at::zeros({R, groups}, at::kFloat), zero;
  const bool asym = [&] {
    const auto z = weight_rtn_params(scheme, w32.narrow(1, 0, group)).second;
    return z.defined();
  }();
  if (asym) zero = at::zeros({R, groups}, at::kFloat);
  std::vector<bool> fixed(size_t(groups), false);
  auto fix_group = [&](int64_t g, const at::Tensor& values) {  // values [R, group] float32, original order
    auto [s, z] = weight_rtn_params(scheme, values);
    scale.narrow(1, g, 1).copy_(s.reshape({R, 1}));
    if (asym) zero.narrow(1, g, 1).copy_(z.reshape({R, 1}));
    fixed[size_t(g)] = true;
  };
  const int64_t* pp = perm.data_ptr<int64_t>();
  const int64_t* ip = invperm.data_ptr<int64_t>();
  if (groups == 1) fix_group(0, w32);  // channel-wise: the whole row, before any column moves

  at::Tensor Q = at::zeros({R, C}, at::kDouble);
  for (int64_t i1 = 0; i1 < C; i1 += opt.block) {
    const int64_t i2 = std::min(i1 + opt.block, C), count = i2 - i1;
    at::Tensor W1 = W.narrow(1, i1, count).clone();
    at::Tensor Err1 = at::zeros({R, count}, at::kDouble);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t col = pp[i1 + i], g = col / group;
      if (!fixed[size_t(g)]) {
        // The group's current values: in this block from W1, past it from W less the updates this
        // block has yet to pass on (columns i1 .. i1+i-1).
        at::Tensor values = at::empty({R, group}, at::kDouble);
        for (int64_t c = 0; c < group; ++c) {
          const int64_t k = ip[g * group + c];
          at::Tensor v;
          if (k < i2) v = W1.select(1, k - i1);
          else v = W.select(1, k) - Err1.narrow(1, 0, i).matmul(U.narrow(0, i1, i).select(1, k));
          values.select(1, c).copy_(v);
        }
        fix_group(g, values.to(at::kFloat));
      }
      const at::Tensor wcol = W1.select(1, i);
      const at::Tensor qcol = fake_quant_weight_with_scales(scheme, wcol.to(at::kFloat).unsqueeze(1), scale.narrow(1, g, 1),
                                                            asym ? zero.narrow(1, g, 1) : at::Tensor(), C)
                                  .squeeze(1)
                                  .to(at::kDouble);
      Q.select(1, i1 + i).copy_(qcol);
      const double d = U[i1 + i][i1 + i].item<double>();
      const at::Tensor err = (wcol - qcol) / d;
      W1.narrow(1, i, count - i).sub_(err.unsqueeze(1).matmul(U.narrow(0, i1 + i, 1).narrow(1, i1 + i, count - i)));
      Err1.select(1, i).copy_(err);
    }
    if (i2 < C) W.narrow(1, i2, C - i2).sub_(Err1.matmul(U.narrow(0, i1, count).narrow(1, i2, C - i2)));
  }
  GptqResult r;
  r.weight = Q.index_select(1, invperm).to(at::kFloat).contiguous();
  r.scale = scale;
  r.zero_point = zero;
  return r;
}

double gptq_loss(const at::Tensor& w, const at::Tensor& q, const at::Tensor& hessian) {
  at::NoGradGuard ng;
  const at::Tensor d = (w.to(at::kDouble) - q.to(at::kDouble));
  return (d.matmul(hessian.to(at::kDouble)) * d).sum().item<double>();
}

HessianAccumulator::HessianAccumulator(int64_t cols) : sum_(at::zeros({cols, cols}, at::kDouble)) {}

void HessianAccumulator::add(const at::Tensor& x) {
  at::NoGradGuard ng;
  const at::Tensor x2 = x.detach().reshape({-1, sum_.size(0)}).to(at::kCPU).to(at::kDouble);
  sum_.addmm_(x2.t(), x2);
  n_ += x2.size(0);
}

at::Tensor HessianAccumulator::hessian() const { return n_ ? sum_ * (2.0 / double(n_)) : sum_.clone(); }

}  // namespace gq
