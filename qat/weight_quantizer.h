// The fake-quant module of a weight seam: RTN every forward (straight-through gradient with the
// clipping mask) or learned LSQ scales initialised with the scheme's RTN rule and kept valid by
// construction (learned_scale.h: positive, or of ggml's initial sign for GGUF blocks; floored at the
// storage dtype's smallest normal).
#pragma once
#include <string>

#include <ATen/core/Tensor.h>

#include "quant/scheme.h"
#include "qat/learned_scale.h"
#include "qat/quantizer.h"

namespace gq {

// Weight (or embedding rows, head, expert bank): input [rows, cols] or [E, rows, cols] (flattened).
class WeightQuantizer : public TensorQuantizer {
 public:
  // learnable: LSQ scales initialised with the RTN rule on `init`; otherwise RTN every forward.
  WeightQuantizer(quant::WeightScheme scheme, const at::Tensor& init, bool learnable);
  at::Tensor forward(const at::Tensor& w) override;
  std::string describe() const override;
  // Adds "scale" (the learned scales as used, [rows, blocks]) to the parameters and buffers; reads
  // a run saved with only "scale" (and "zero_point") as that starting point.
  std::map<std::string, at::Tensor> saved_state() override;
  void load_saved_state(const StateLookup& saved, const std::string& where) override;
  std::vector<at::Tensor> scale_parameters() override;

  const quant::WeightScheme& scheme() const { return scheme_; }
  bool learnable() const { return learned_.defined(); }
  at::Tensor scale() const;  // [rows, blocks], the scales as used (learnable only)
  LearnedScale& learned() { return learned_; }
  at::Tensor zero_point;     // [rows, blocks] buffer (asymmetric learnable only)

 private:
  quant::WeightScheme scheme_;
  LearnedScale learned_;
};

}  // namespace gq
