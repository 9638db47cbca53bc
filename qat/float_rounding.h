// The seam quantizer of a float tensor the deployed file stores in F16 or BF16 (norm weights, the
// router, PLE tables and projections no rule quantizes, an unquantized head or embedding): the model
// computes with the value rounded to that dtype (round to nearest even), and the float32 latent
// weight gets the gradient straight through. quantize_model sets it for a recipe whose float dtype
// is not F32 (F32 sets nothing, so costs nothing).
#pragma once
#include <string>

#include <ATen/core/Tensor.h>

#include "io/dtype.h"
#include "qat/quantizer.h"

namespace gq {

class FloatRounding : public TensorQuantizer {
 public:
  explicit FloatRounding(DType dtype);  // F16 or BF16
  at::Tensor forward(const at::Tensor& x) override;
  std::string describe() const override;  // "bf16 (float tensor)"
  DType dtype() const { return dtype_; }

 private:
  DType dtype_;
};

}  // namespace gq
