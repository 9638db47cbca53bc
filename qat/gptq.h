// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
// Transformers"; the reference gptq.py of IST-DASLab/gptq and AutoGPTQ) on the schemes of
// quant/scheme.h: each weight row is quantized column by column, and the rounding error of a column
// is spread over the columns not yet quantized so as to minimise ||(W - Q) X^T||² over calibration
// inputs X, through the inverse Hessian H^-1 of H = 2 X^T X.
//
//  - dampening: H + percdamp · mean(diag H) · I (percdamp 0.01); an input that never fired (diag 0)
//    gets H_jj = 1, so its column is rounded to nearest and passes no error on (the reference also
//    zeroes such weights; we keep them, the calibration data just never saw the input);
//  - H^-1 through its Cholesky factor (upper U with U^T U = H^-1), lazy batch updates over blocks of
//    `block` columns (128): exactly the sequential OBQ update, computed in float64;
//  - scales: channel-wise schemes take the RTN scale of the whole row before the first column (as
//    the reference's find_params on W); group / GGUF block schemes (Q4_0's 32, int4_g32 ...) fix a
//    group's scale when its first column comes up, by the scheme's RTN rule on the group's current
//    values (everything earlier columns passed on included; GPTQ's static_groups=False, which reads
//    the lazily-updated W and so misses the current block's updates: we read the exact values).
//    Groups stay the format's contiguous blocks, also under act-order;
//  - act_order: columns in order of decreasing diag(H) (the reference's desc_act).
// The result is what the fake-quant model computes with the learned-scale path: the codes of
// round(w / s) on the scheme's grid at the returned scales (qat/fake_quant_ops.h
// fake_quant_weight_with_scales), so a run storing the scales reproduces these weights exactly.
#pragma once
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "quant/scheme.h"

namespace gq {

struct GptqOptions {
  double percdamp = 0.01;
  int64_t block = 128;
  bool act_order = false;
};

struct GptqResult {
  at::Tensor weight;      // [rows, cols] float32: the dequantized values
  at::Tensor scale;       // [rows, blocks] float32, the scales as the learned-scale path takes them
  at::Tensor zero_point;  // [rows, blocks] (asymmetric schemes), else undefined
};

// `w` [rows, cols]; `hessian` [cols, cols] (any positive multiple of X^T X; float64 best).
GptqResult gptq_quantize(const quant::WeightScheme& scheme, const at::Tensor& w, const at::Tensor& hessian,
                         const GptqOptions& opt = {});

// The error GPTQ minimises: tr((W - Q) H (W - Q)^T), in float64.
double gptq_loss(const at::Tensor& w, const at::Tensor& q, const at::Tensor& hessian);

// Accumulates H = 2 X^T X / n over the rows of the inputs it sees (float64).
class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t cols);
  void add(const at::Tensor& x);  // [..., cols]
  at::Tensor hessian() const;     // 2 X^T X / n; zeros before any input
  int64_t rows() const { return n_; }

 private:
  at::Tensor sum_;
  int64_t n_ = 0;
};

}  // namespace gq
