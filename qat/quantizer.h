// The seam every fake-quant op plugs into. The model calls a TensorQuantizer at each point where the
// deployed runtime rounds something (a Linear's weight or input, embedding rows, the head, a K/V
// write); an unset seam is the identity. The quantization-core code implements the subclasses.
#pragma once
#include <memory>
#include <string>

#include <torch/nn/module.h>

namespace gq {

class TensorQuantizer : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  virtual std::string describe() const = 0;  // e.g. "q4_0" or "int8 static (scale 0.0123)"
  // Off: the seam passes values through, but the quantizer (and its learned parameters) stays in
  // place: delayed fake-quant starts and A/B evaluations toggle this.
  bool enabled = true;
};
using QuantizerPtr = std::shared_ptr<TensorQuantizer>;

// One seam: a named slot holding an optional quantizer, registered as a submodule of its owner so
// that learnable quantization parameters appear in the owner's parameters().
class QuantSeam {
 public:
  QuantSeam(torch::nn::Module* owner, std::string name) : owner_(owner), name_(std::move(name)) {}
  at::Tensor operator()(const at::Tensor& x) const { return q_ && q_->enabled ? q_->forward(x) : x; }
  void set(QuantizerPtr q);
  const QuantizerPtr& get() const { return q_; }
  const std::string& name() const { return name_; }

 private:
  torch::nn::Module* owner_;
  std::string name_;
  QuantizerPtr q_;
};

}  // namespace gq
