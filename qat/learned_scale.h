// A learned quantization scale that is valid whatever the optimizer does with it:
//
//   scale = sign(init) * max(|init| * exp(log_ratio), tiny)
//
// `init` (a buffer) is the scheme's RTN scale, `log_ratio` (the parameter, 0 at the start, so the
// first forward is exactly RTN) is what AdamW moves. Why a log ratio rather than the scale itself:
// AdamW steps every parameter by about the learning rate, whatever its size; on a raw scale of
// 1e-3 a weight learning rate of 1e-3 is a 100% step, and scales went negative within a few steps.
// In log space a step is a relative change (lr * 100 %), the same for a 1e-4 and a 1 scale, and no
// step can cross zero. The sign stays the initial one: positive for every uniform scheme, ggml's
// sign of d for Q4_0 / Q2_0 / Q8_0 blocks (their grids are signed, so the sign is part of the RTN
// solution and flipping it would move the extra level to the other side). The floor, `tiny` = the
// storage dtype's smallest normal (quant::scale_tiny), keeps an exp that underflows from ever
// giving a 0 or subnormal scale; its gradient is straight-through so a floored scale can recover.
//
// LSQ's gradient reaches log_ratio by the chain rule: d/d log_ratio = scale * d/d scale.
#pragma once
#include <ATen/core/Tensor.h>

#include <torch/nn/module.h>

namespace gq {

// Learning-rate multiplier for log_ratio parameters relative to the weights' learning rate. At a
// weight learning rate lr, AdamW moves a weight by about lr, i.e. by lr / |w| relative, and |w| is
// a few scales; a scale moves by multiplier * lr relative. 10 keeps the scales' relative steps well
// below the weights' (scales of small-magnitude blocks are 1e-3..1e-2) while still letting them
// move measurably in a few hundred steps of a typical QAT learning rate (1e-5..1e-4). On the tiny
// test model (60 steps, q4_0 and int4_g32 LSQ, lr 1e-3) 10 gave a lower loss than 1, 100 or frozen
// scales; 100 made it worse.
constexpr double kLearnedScaleLrMultiplier = 10.0;

class LearnedScale {
 public:
  // Registers "init_scale" (buffer) and "log_scale_ratio" (parameter, zeros) on `owner`. `init`
  // must be nonzero with |init| >= tiny; `signed_scale`: the grid is signed (GGUF), so is the scale.
  void create(torch::nn::Module& owner, const at::Tensor& init, float tiny, bool signed_scale);
  bool defined() const { return log_ratio.defined(); }
  // Sets the starting point (a calibrated scale, the scale of a run saved before this
  // parameterization), floored at tiny, with its own sign if signed: the ratio back to 0.
  void reset(const at::Tensor& init);
  // The scale as the quantizer uses it; differentiable in log_ratio.
  at::Tensor value() const;

  at::Tensor init_scale, log_ratio;
  float tiny = 0;
  bool signed_scale = false;
};

}  // namespace gq
