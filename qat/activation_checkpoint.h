// Activation checkpointing for LibTorch C++ (which has no torch.utils.checkpoint): a function whose
// intermediate tensors are not kept for backward but recomputed there.
//
// checkpointed(fn, inputs) runs fn(inputs) without grad, so autograd keeps only `inputs` (and the
// outputs' one node); backward re-runs fn with grad on detached copies of the inputs, back-propagates
// the incoming gradients through that fresh graph (the parameters fn reads get their gradients
// accumulated into their .grad as usual) and hands the inputs' gradients on. Every tensor that
// carries a gradient into or out of fn must be one of `inputs` or of the outputs: a tensor fn reads
// from a capture gets no gradient. fn must compute the same values both times (no RNG, no state it
// changes); parameters must not change between forward and backward. The recompute runs under the
// autocast state (CPU, CUDA) the forward ran under.
#pragma once
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>

namespace gq {

using CheckpointedFn = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>& inputs)>;

// Without grad mode (or when no input and no parameter needs a gradient) this is just fn(inputs).
// Inputs must be defined; outputs must be defined and none may be an input itself.
std::vector<at::Tensor> checkpointed(const CheckpointedFn& fn, const std::vector<at::Tensor>& inputs);

}  // namespace gq
