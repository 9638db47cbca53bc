#include "qat/quantizer.h"

#include <stdexcept>

#include <ATen/ATen.h>

#include "io/error.h"

namespace gq {

std::map<std::string, at::Tensor> TensorQuantizer::saved_state() {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : named_parameters(true)) out[p.key()] = p.value();
  for (const auto& b : named_buffers(true)) out[b.key()] = b.value();
  return out;
}

void TensorQuantizer::load_saved_state(const StateLookup& saved, const std::string& where) {
  at::NoGradGuard ng;
  auto restore = [&](const std::string& name, at::Tensor dst) {
    const at::Tensor* src = saved(name);
    if (!src) throw FormatError("quantization state lacks '" + where + name + "'");
    if (src->sizes() != dst.sizes()) throw FormatError("quantization state '" + where + name + "' has the wrong shape");
    dst.copy_(*src);
  };
  for (const auto& p : named_parameters(true)) restore(p.key(), p.value());
  for (const auto& b : named_buffers(true)) restore(b.key(), b.value());
}

at::Tensor QuantSeam::operator()(const at::Tensor& x) const {
  if (!q_ || !q_->enabled) return x;
  if (at::Tensor f = frozen_output(x); f.defined()) return f;
  return q_->forward(x);
}

void QuantSeam::freeze(const at::Tensor& source, const at::Tensor& output) {
  unfreeze();
  if (!q_ || !q_->enabled) return;
  at::NoGradGuard ng;
  at::Tensor y = output.defined() ? output : q_->forward(source);
  source_ = source;
  frozen_ = y.detach();
}

void QuantSeam::unfreeze() {
  source_ = at::Tensor();
  frozen_ = at::Tensor();
}

at::Tensor QuantSeam::frozen_output(const at::Tensor& source) const {
  if (!frozen_.defined() || !q_->enabled || !source.is_same(source_)) return {};
  if (at::GradMode::is_enabled())
    throw std::logic_error("fake-quant seam '" + name_ + "' is frozen for inference: unfreeze_fake_quant before training");
  return frozen_;
}

void QuantSeam::set(QuantizerPtr q) {
  unfreeze();
  // Module::replace_module requires an existing child; unregister by swapping in the new one.
  if (q_ && !q) {
    owner_->unregister_module(name_);
  } else if (q_ && q) {
    owner_->replace_module(name_, q);
  } else if (q) {
    owner_->register_module(name_, q);
  }
  q_ = std::move(q);
}

}  // namespace gq
