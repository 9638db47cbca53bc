// The autograd side of fake quantization: the values are computed beforehand without grad
// (fake_quant_ops.h); these functions only route the gradients.
//
// Gradients: a straight-through estimator with a clipping mask (no gradient where the value was
// clamped), and LSQ for learnable scales (Esser et al.: d/ds = (level - z) - x/s inside the range,
// (level - z) at the clamps, times 1/sqrt(values_per_scale * qmax)). A scale's storage rounding
// (fp16 for GGUF blocks, bf16/f16 scale dtypes) is straight-through as well.
#pragma once
#include <ATen/core/Tensor.h>

#include "qat/fake_quant_ops.h"

namespace gq {

// Returns y (the fake-quant values of x); dy/dx = in_range, or 1 where in_range is undefined.
at::Tensor straight_through(const at::Tensor& x, const at::Tensor& y, const at::Tensor& in_range);
// Returns r.y; dy/dx = r's mask, float (in_range) or one bit per value (in_range_bits).
at::Tensor straight_through(const at::Tensor& x, const RtnWithMask& r);

// Returns p.y; x gets the masked gradient, `scale` the LSQ gradient summed per scale (p.step_grad
// holds one block of values per scale) times grad_scale.
at::Tensor lsq(const at::Tensor& x, const at::Tensor& scale, const ScaledFakeQuant& p, double grad_scale);

}  // namespace gq
