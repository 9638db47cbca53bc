// The fake-quant module of a weight seam: RTN every forward (straight-through gradient with the
// clipping mask) or learned LSQ scales initialised with the scheme's RTN rule.
#pragma once
#include <string>

#include <ATen/core/Tensor.h>

#include "quant/scheme.h"
#include "qat/quantizer.h"

namespace gq {

// Weight (or embedding rows, head, expert bank): input [rows, cols] or [E, rows, cols] (flattened).
class WeightQuantizer : public TensorQuantizer {
 public:
  // learnable: LSQ scales initialised with the RTN rule on `init`; otherwise RTN every forward.
  WeightQuantizer(quant::WeightScheme scheme, const at::Tensor& init, bool learnable);
  at::Tensor forward(const at::Tensor& w) override;
  std::string describe() const override;

  const quant::WeightScheme& scheme() const { return scheme_; }
  bool learnable() const { return scale.defined(); }
  at::Tensor scale;        // [rows, blocks] parameter (learnable only)
  at::Tensor zero_point;   // [rows, blocks] buffer (asymmetric learnable only)

 private:
  quant::WeightScheme scheme_;
};

}  // namespace gq
