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
// While one is alive on this thread, seams neither read nor keep their inference cache: the forward
// of a checkpointed layer (qat/activation_checkpoint.h) runs without grad mode but is a training
// step, and caching every layer's simulated weights there would keep what checkpointing frees.
class SeamCacheOff {
 public:
  SeamCacheOff();
  ~SeamCacheOff();
  SeamCacheOff(const SeamCacheOff&) = delete;
  SeamCacheOff& operator=(const SeamCacheOff&) = delete;
  static bool active();

 private:
  bool previous_;
};

class QuantSeam {
 public:
  QuantSeam(torch::nn::Module* owner, std::string name) : owner_(owner), name_(std::move(name)) {}
  // The quantizer's output (x itself when unset or off). At inference (no grad mode) the output for
  // a parameter (a weight, table or head) is kept and reused while neither the parameter nor the
  // quantizer's state has changed (version counters): generate / eval / logits quantize each weight
  // once, not once per forward. The cache is dropped as soon as grad mode is on (training) or a
  // SeamCacheOff is alive.
  at::Tensor operator()(const at::Tensor& x) const;
  // The quantizer's output, neither read from nor kept in the cache: for a caller that visits each
  // tensor once (the hf writer, simulated_tensors), so memory stays at one extra tensor.
  at::Tensor uncached(const at::Tensor& x) const { return q_ && q_->enabled ? q_->forward(x) : x; }
  void set(QuantizerPtr q);
  const QuantizerPtr& get() const { return q_; }
  const std::string& name() const { return name_; }

 private:
  torch::nn::Module* owner_;
  std::string name_;
  QuantizerPtr q_;
  struct Cached {
    at::Tensor x;  // the parameter (held, so that its identity cannot pass to another tensor)
    int64_t x_version = -1, q_version = -1;
    at::Tensor y;
  };
  mutable Cached cache_;
};

}  // namespace gq
