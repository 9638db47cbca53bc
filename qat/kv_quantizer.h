// The fake-quant module of a K/V cache seam: K after RoPE / V after its norm, quantized per
// (token, head) row along head_dim with a scale computed at run time.
#pragma once
#include <string>

#include <ATen/core/Tensor.h>

#include "quant/scheme.h"
#include "qat/quantizer.h"
#include "qat/range_observer.h"

namespace gq {

class KvQuantizer : public TensorQuantizer {
 public:
  explicit KvQuantizer(quant::KvScheme scheme);
  at::Tensor forward(const at::Tensor& x) override;
  std::string describe() const override;
  void set_observing(bool on) { observing_ = on; }
  RangeObserver observer{"minmax"};  // per-tensor range, for exporters that need static K/V scales

 private:
  quant::KvScheme scheme_;
  bool observing_ = false;
};

}  // namespace gq
