// The float32 building blocks of the Gemma 4 forward: activations are row-major [tokens, features]
// matrices, weights the PyTorch [out, in] tensors of ModelWeights.
#pragma once
#include <Eigen/Core>
#include <cstdint>

#include "engine/weights.h"

namespace gq::engine {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// x [T, in] times W^T for W [out, in] (nn.Linear without bias): [T, out]. A float W: float32
// accumulation in a fixed order. A packed W (fast mode) with an integer kernel: x's rows quantized
// to Q8_0 and engine/int_dot.h's dot; other packed types: each row dequantized, then the float dot.
// Each output element depends on its input row and weight row alone (not on how many rows are
// multiplied at once, nor on the thread count): output rows are split over engine_pool().
Matrix linear(const Matrix& x, const Tensor& w);
// The same for the `expert`-th [out, in] slice of a [E, out, in] tensor, on one row.
Eigen::VectorXf expert_linear(const Eigen::VectorXf& x, const Tensor& w, int64_t expert);

// Row r of a 2-D tensor (float or packed) as float32 into out[0 .. shape[1]).
void tensor_row(const Tensor& t, int64_t r, float* out);

// HF's Gemma 4 RMSNorm on every `dim`-wide group of each row (dim = the row for a plain norm, the
// head dim for q/k/v norms): x * (mean(x^2) + eps)^-0.5, times `weight` (no 1+w) when given. The
// v norm and the router's norm have no weight (nullptr).
void rms_norm(Matrix& x, int64_t dim, const Tensor* weight, double eps);

// gelu_pytorch_tanh.
float gelu_tanh(float x);
// ggml's GELU (GGML_GELU_FP16, what llama.cpp's CPU backend computes): 0 below -10, x above 10,
// else a table of fp16(gelu(fp16(x))) (the float tanh formula), 128 KB built once. Fast mode's.
float gelu_tanh_f16_table(float x);

// Σ a_i b_i in a fixed order (16 interleaved partial sums, then a pairwise reduction): the result
// depends on the two rows alone.
float fixed_order_dot(const float* a, const float* b, int64_t n);

}  // namespace gq::engine
