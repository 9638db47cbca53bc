// Fake quantization as plain tensor functions (no autograd): the torch twin of every codec's
// fake-quant reference in quant/ (same operations in the same order, so the floats are
// bit-identical on CPU; tests/qat/fake_quant_test.cpp compares them). The quantizer modules
// (weight_quantizer.h, activation_quantizer.h, kv_quantizer.h) compute their values with these.
#pragma once
#include <cstdint>
#include <utility>

#include <ATen/core/Tensor.h>

#include "quant/scheme.h"

namespace gq {

// RTN with the scheme's own scale rule on a [rows, cols] float32 tensor. `grad_mask`, if given,
// receives a float mask of the values that were not clamped.
at::Tensor fake_quant_weight_rtn(const quant::WeightScheme& s, const at::Tensor& w, at::Tensor* grad_mask = nullptr);
// RTN for the straight-through estimator: y and its gradient mask in the form the backward reads
// fastest. Q4_0 on the CPU: one bit per value, in_range_bits (int32 [rows, cols / 32], the words of
// quant::fake_quant_q4_0_in_range_bits), a 32nd of the weight's size; any other path: the float
// mask in_range ([rows, cols]) of fake_quant_weight_rtn.
struct RtnWithMask {
  at::Tensor y, in_range, in_range_bits;
};
RtnWithMask fake_quant_weight_rtn_with_mask(const quant::WeightScheme& s, const at::Tensor& w);
// g (float32, CPU, any shape of in_range_bits.numel() * 32 values) times the mask of those bits:
// the same floats as g * (the float mask), -0 and NaN included. Contiguous, g's shape.
at::Tensor apply_in_range_bits(const at::Tensor& g, const at::Tensor& in_range_bits);
// The same in tensor operations only (any device): what fake_quant_weight_rtn runs off the CPU fast
// path. Tested against the codecs on the CPU so the CUDA path is covered too.
at::Tensor fake_quant_weight_rtn_tensor_ops(const quant::WeightScheme& s, const at::Tensor& w,
                                            at::Tensor* grad_mask = nullptr);
// RTN parameters (the codec's rule) as tensors: scales [rows, cols/block], zero points (asymmetric
// group schemes; otherwise undefined). The initial values of learnable scales: every magnitude at
// least the storage dtype's smallest normal (a GGUF block's fp32 d keeps its sign; an all-zero
// block gets +tiny).
std::pair<at::Tensor, at::Tensor> weight_rtn_params(const quant::WeightScheme& s, const at::Tensor& w);
// Given scales (and zero points): returns y and fills the pieces LSQ needs.
struct ScaledFakeQuant {
  at::Tensor y;          // [rows, cols]
  at::Tensor in_range;   // float mask: value not clamped
  at::Tensor step_grad;  // dy/ds per value: (level - z) - in_range * x/s
};
ScaledFakeQuant fake_quant_weight_scaled(const quant::WeightScheme& s, const at::Tensor& w, const at::Tensor& scales,
                                         const at::Tensor& zero_points);
// The same value by value: w [rows, n] (a few columns of a row of length `cols`), each value with its
// own block's scale (and zero point) in scales [rows, n]. What GPTQ quantizes a column with; equal to
// fake_quant_weight_scaled's y on those columns.
at::Tensor fake_quant_weight_with_scales(const quant::WeightScheme& s, const at::Tensor& w, const at::Tensor& scales,
                                         const at::Tensor& zero_points, int64_t cols);

// Per-tensor static activations with scale (and zero point). A scheme with a compute dtype
// ("int8_sym@bf16") runs vLLM's own torch ops in that dtype: s = scale.to(bf16), x.to(bf16),
// q = clamp(round(x / s), qmin, qmax), y = q * s (quant/activation.h; -0 kept, as torch gives it).
ScaledFakeQuant fake_quant_activation_tensor(const quant::ActivationScheme& s, const at::Tensor& x, const at::Tensor& scale,
                                             int32_t zero_point);
// The same value (y only) in one pass over a CPU float32 tensor with the codec itself
// (quant::fake_quant_activation), in pieces on LibTorch's intra-op threads: what inference runs, where
// the tensor ops above cost a decoded token more than its matmuls. Undefined where the codec refuses
// the values (NaN / Inf) or the scale; the tensor ops then give torch's answer.
at::Tensor fake_quant_activation_cpu(const quant::ActivationScheme& s, const at::Tensor& x, float scale, int32_t zero_point);
// KV cache: per-row (last dim) dynamic scale.
at::Tensor fake_quant_kv_tensor(const quant::KvScheme& s, const at::Tensor& x);

// x rounded to F16 / BF16 (round to nearest even) and back to float32; F32: x itself.
at::Tensor round_to_dtype(const at::Tensor& x, DType dt);

}  // namespace gq
