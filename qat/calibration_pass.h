// What GPTQ and AWQ share: a pass of the calibration windows through the model, and the collector
// that sits on a Linear's input seam during it (qat/ptq.h, qat/awq.h).
#pragma once
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "qat/gemma4_model.h"
#include "qat/gptq.h"
#include "qat/quantizer.h"
#include "recipes/recipe.h"
#include "text/corpus.h"

namespace gq {

// The recipe's weight schemes alone (no activation, output or KV-cache quantization): GPTQ and AWQ
// are weight-only, so their passes run with only these attached.
ResolvedRecipe weight_schemes_only(ResolvedRecipe recipe);

// Forwards the first `batches` batches of `batch_size` windows (the last may be short) on the
// model's device, without gradients; what it computes is only seen by the seams.
void forward_calibration(Gemma4Model& model, const TokenWindows& calib, int64_t batch_size, int64_t batches);

// On a Linear's (or the head's) input seam during a pass: accumulates the Hessian 2 XᵀX / n (GPTQ's
// and AWQ's loss) and the per-channel mean |x| (AWQ's activation scale) of the rows it sees, and
// passes x on unchanged.
class InputStatsCollector : public TensorQuantizer {
 public:
  explicit InputStatsCollector(int64_t cols);
  at::Tensor forward(const at::Tensor& x) override;
  std::string describe() const override { return "PTQ input statistics collector"; }
  at::Tensor hessian() const { return acc_.hessian(); }
  at::Tensor abs_mean() const;  // [cols] float64; zeros before any input
  int64_t rows() const { return acc_.rows(); }

 private:
  HessianAccumulator acc_;
  at::Tensor abs_sum_;  // [cols] float64
};

}  // namespace gq
