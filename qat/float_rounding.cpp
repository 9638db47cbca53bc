#include "qat/float_rounding.h"

#include <ATen/ATen.h>

#include "io/error.h"
#include "qat/fake_quant_autograd.h"
#include "qat/fake_quant_ops.h"

namespace gq {

FloatRounding::FloatRounding(DType dtype) : dtype_(dtype) {
  if (dtype != DType::F16 && dtype != DType::BF16)
    throw FormatError(std::string("float rounding: ") + dtype_name(dtype) + " is not F16 or BF16");
}

at::Tensor FloatRounding::forward(const at::Tensor& x) {
  at::Tensor y;
  {
    at::NoGradGuard ng;
    y = round_to_dtype(x.detach(), dtype_);
  }
  return straight_through(x, y, at::Tensor());
}

std::string FloatRounding::describe() const {
  return std::string(dtype_ == DType::BF16 ? "bf16" : "f16") + " (float tensor)";
}

}  // namespace gq
