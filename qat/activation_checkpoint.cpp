#include "qat/activation_checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/autograd.h>
#include <torch/version.h>

#include "io/error.h"

namespace gq {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Autocast (CPU and CUDA) as the forward saw it. Backward runs under the autocast state of the
// backward() call (usually off), so the recompute must re-enter the forward's, or it would compute
// in another dtype than the values the gradients flow back into.
struct AutocastState {
  bool cpu = false, cuda = false;
  at::ScalarType cpu_dtype = at::kBFloat16, cuda_dtype = at::kHalf;

  static AutocastState current() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    return {at::autocast::is_autocast_enabled(at::kCPU), at::autocast::is_autocast_enabled(at::kCUDA),
            at::autocast::get_autocast_dtype(at::kCPU), at::autocast::get_autocast_dtype(at::kCUDA)};
#else
    return {at::autocast::is_cpu_enabled(), at::autocast::is_enabled(), at::autocast::get_autocast_cpu_dtype(),
            at::autocast::get_autocast_gpu_dtype()};
#endif
  }
  void apply() const {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_enabled(at::kCPU, cpu);
    at::autocast::set_autocast_enabled(at::kCUDA, cuda);
    at::autocast::set_autocast_dtype(at::kCPU, cpu_dtype);
    at::autocast::set_autocast_dtype(at::kCUDA, cuda_dtype);
#else
    at::autocast::set_cpu_enabled(cpu);
    at::autocast::set_enabled(cuda);
    at::autocast::set_autocast_cpu_dtype(cpu_dtype);
    at::autocast::set_autocast_gpu_dtype(cuda_dtype);
#endif
  }
};

// Sets an autocast state for its lifetime.
class AutocastScope {
 public:
  explicit AutocastScope(const AutocastState& s) : previous_(AutocastState::current()) { s.apply(); }
  ~AutocastScope() { previous_.apply(); }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  AutocastState previous_;
};

// fn travels to backward in the context's saved_data, which holds IValues: a capsule around it.
struct SavedFn : torch::CustomClassHolder {
  explicit SavedFn(CheckpointedFn f) : fn(std::move(f)), autocast(AutocastState::current()) {}
  CheckpointedFn fn;
  AutocastState autocast;
};

// Inputs: [the real inputs..., an optional grad-requiring placeholder]; `n_real` of them go to fn.
struct Checkpoint : public torch::autograd::Function<Checkpoint> {
  static variable_list forward(AutogradContext* ctx, const c10::intrusive_ptr<SavedFn>& saved, int64_t n_real,
                               at::TensorList inputs) {
    // Function::apply runs this without grad: fn builds no graph, so nothing of it is kept.
    const std::vector<at::Tensor> real(inputs.begin(), inputs.begin() + n_real);
    std::vector<at::Tensor> out = saved->fn(real);
    for (const at::Tensor& o : out) {
      if (!o.defined()) throw FormatError("activation checkpointing: the checkpointed function returned an undefined tensor");
      for (const at::Tensor& i : real)
        if (o.is_same(i)) throw FormatError("activation checkpointing: the checkpointed function returned one of its inputs");
    }
    ctx->save_for_backward(real);
    ctx->saved_data["fn"] = at::IValue::make_capsule(saved);
    ctx->saved_data["n_inputs"] = int64_t(inputs.size());
    // An output no later op reads (the K/V of a layer no other layer shares) gets no gradient:
    // leave it undefined rather than back-propagating zeros.
    ctx->set_materialize_grads(false);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const variable_list saved = ctx->get_saved_variables();
    const auto holder = c10::static_intrusive_pointer_cast<SavedFn>(ctx->saved_data["fn"].toCapsule());
    const int64_t n_inputs = ctx->saved_data["n_inputs"].toInt();
    std::vector<at::Tensor> inputs;
    inputs.reserve(saved.size());
    for (const at::Tensor& s : saved) inputs.push_back(s.detach().requires_grad_(s.requires_grad()));
    variable_list outs, grads;
    {
      at::AutoGradMode grad_on(true);  // the engine runs backward nodes without grad
      const AutocastScope autocast(holder->autocast);
      const std::vector<at::Tensor> recomputed = holder->fn(inputs);
      TORCH_CHECK(recomputed.size() == grad_out.size(), "activation checkpointing: the recompute returned ",
                  recomputed.size(), " tensors, the forward ", grad_out.size());
      for (size_t i = 0; i < recomputed.size(); ++i)
        if (grad_out[i].defined() && recomputed[i].requires_grad()) {
          outs.push_back(recomputed[i]);
          grads.push_back(grad_out[i]);
        }
    }
    // Parameters accumulate their gradients into .grad here, as they would in one backward.
    if (!outs.empty()) torch::autograd::backward(outs, grads);
    variable_list result{at::Tensor(), at::Tensor()};  // the SavedFn and n_real
    for (const at::Tensor& i : inputs) result.push_back(i.requires_grad() ? i.grad() : at::Tensor());
    result.resize(size_t(2 + n_inputs));  // the placeholder (if any) gets none
    return result;
  }
};

}  // namespace

std::vector<at::Tensor> checkpointed(const CheckpointedFn& fn, const std::vector<at::Tensor>& inputs) {
  for (const at::Tensor& i : inputs)
    if (!i.defined()) throw FormatError("activation checkpointing: an input is undefined");
  if (!at::GradMode::is_enabled()) return fn(inputs);
  std::vector<at::Tensor> all = inputs;
  bool any_grad = false;
  for (const at::Tensor& i : inputs) any_grad = any_grad || i.requires_grad();
  // Autograd records the node only if an input needs a gradient; fn's parameters may need theirs
  // even when no input does (the first layer under a frozen embedding), so add one that does.
  if (!any_grad) {
    const at::Device dev = inputs.empty() ? at::Device(at::kCPU) : inputs[0].device();
    all.push_back(at::empty({0}, at::TensorOptions().dtype(at::kFloat).device(dev)).requires_grad_());
  }
  return Checkpoint::apply(c10::make_intrusive<SavedFn>(fn), int64_t(inputs.size()), at::TensorList(all));
}

}  // namespace gq
