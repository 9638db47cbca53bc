// The seam every fake-quant op plugs into. The model calls a TensorQuantizer at each point where the
// deployed runtime rounds something (a Linear's weight or input, embedding rows, the head, a K/V
// write); an unset seam is the identity. The quantization-core code implements the subclasses.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>

namespace gq {

class TensorQuantizer : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  virtual std::string describe() const = 0;  // e.g. "q4_0" or "int8 static (scale 0.0123)"

  // What a run saves (quant_params.safetensors) and exporters read, by name: every parameter and
  // buffer, plus what a subclass derives from them (a learned "scale" as the quantizer uses it).
  virtual std::map<std::string, at::Tensor> saved_state();
  // Restores every parameter and buffer from `saved` (nullptr for a name it lacks: an error, unless
  // a subclass can rebuild it from an older layout). `where` prefixes names in errors.
  using StateLookup = std::function<const at::Tensor*(const std::string&)>;
  virtual void load_saved_state(const StateLookup& saved, const std::string& where);
  // The learned-scale parameters: an optimizer gives them their own group (learned_scale.h's
  // kLearnedScaleLrMultiplier times the weight learning rate, no weight decay).
  virtual std::vector<at::Tensor> scale_parameters() { return {}; }
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
  // The quantizer's output (x itself when unset or off); for the tensor the seam was frozen on,
  // the frozen output.
  at::Tensor operator()(const at::Tensor& x) const;
  // Inference (freeze_fake_quant in qat/quantize.h): the quantizer's output for `source` (the weight,
  // table or head this seam reads) is computed once, or taken as `output` when the caller has it,
  // and returned for `source` from then on, without recomputing, until unfreeze() or set(): a
  // weight written after freezing is not seen. Only when the quantizer is set and on; activation and
  // KV seams never see their source again, so freezing only ever applies to stored tensors.
  void freeze(const at::Tensor& source, const at::Tensor& output = {});
  void unfreeze();
  // The frozen output for `source`; undefined when the seam is not frozen on it or is off. Throws
  // in grad mode: a frozen seam would train nothing (unfreeze first).
  at::Tensor frozen_output(const at::Tensor& source) const;
  bool frozen() const { return frozen_.defined(); }
  void set(QuantizerPtr q);
  const QuantizerPtr& get() const { return q_; }
  const std::string& name() const { return name_; }

 private:
  torch::nn::Module* owner_;
  std::string name_;
  QuantizerPtr q_;
  at::Tensor source_, frozen_;  // the source is held so that its identity cannot pass to another tensor
};

}  // namespace gq
