#include "qat/kv_quantizer.h"

#include <ATen/ATen.h>

#include "qat/fake_quant_autograd.h"
#include "qat/fake_quant_ops.h"

namespace gq {

KvQuantizer::KvQuantizer(quant::KvScheme scheme) : scheme_(scheme) { quant::validate(scheme_); }

at::Tensor KvQuantizer::forward(const at::Tensor& x) {
  if (observing_) observer.observe(x);
  at::Tensor y;
  {
    at::NoGradGuard ng;
    y = fake_quant_kv_tensor(scheme_, x.detach());
  }
  // The per-row scale follows the row's max, so nothing clips: a plain straight-through gradient.
  return straight_through(x, y, at::Tensor());
}

std::string KvQuantizer::describe() const {
  return quant::kv_scheme_name(scheme_) + (scheme_.ggml_blocks ? " (llama.cpp cache: blocks of 32, fp16 d)" : " per (token, head)");
}

}  // namespace gq
