// Gemma 4's mixture-of-experts block, run beside the dense MLP on MoE layers (26B-A4B): a router
// on the scale-less RMSNorm of the residual picks top_k of num_experts per token, and the chosen
// experts' GeGLU outputs are summed with renormalised, per-expert-scaled router probabilities.
#pragma once
#include <string>

#include "engine/ops.h"
#include "engine/weights.h"

namespace gq::engine {

// residual [T, H] (the stream after attention, before the MLP's norm) -> the expert branch after
// its own post-norm (post_feedforward_layernorm_2). `p` is the layer prefix "layers.<i>.".
Matrix moe_block(const ModelWeights& w, const std::string& p, const Matrix& residual);

}  // namespace gq::engine
