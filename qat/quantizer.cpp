#include "qat/quantizer.h"

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

namespace {

// Changes whenever a parameter or buffer of the quantizer is written in place (optimizer steps,
// calibration, loading a state).
int64_t state_version(torch::nn::Module& q) {
  int64_t v = 0;
  for (const auto& p : q.named_parameters(true)) v += p.value()._version();
  for (const auto& b : q.named_buffers(true)) v += b.value()._version();
  return v;
}

}  // namespace

namespace {
thread_local bool seam_cache_off = false;
}  // namespace

SeamCacheOff::SeamCacheOff() : previous_(seam_cache_off) { seam_cache_off = true; }
SeamCacheOff::~SeamCacheOff() { seam_cache_off = previous_; }
bool SeamCacheOff::active() { return seam_cache_off; }

at::Tensor QuantSeam::operator()(const at::Tensor& x) const {
  if (!q_ || !q_->enabled) return x;
  if (at::GradMode::is_enabled() || !x.requires_grad() || seam_cache_off) {  // training, or an activation
    if (cache_.y.defined()) cache_ = Cached{};
    return q_->forward(x);
  }
  const int64_t qv = state_version(*q_);
  if (cache_.y.defined() && cache_.x.is_same(x) && cache_.x_version == x._version() && cache_.q_version == qv)
    return cache_.y;
  cache_ = Cached{x, x._version(), qv, q_->forward(x)};
  return cache_.y;
}

void QuantSeam::set(QuantizerPtr q) {
  cache_ = Cached{};
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
