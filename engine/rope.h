// Rotary position embedding as HF's Gemma 4 applies it: rotate_half over the whole head, with
// "proportional" RoPE on full layers rotating only the first partial_rotary_factor * head_dim / 2
// frequency pairs (the rest get inv_freq 0, i.e. pass through unrotated).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/ops.h"
#include "model/gemma4_config.h"

namespace gq::engine {

// head_dim / 2 inverse frequencies, rounded to float32 as HF's inv_freq buffer is.
std::vector<float> rope_inv_freq(const RopeParams& rope, int64_t head_dim);

// Rotates every head_dim-wide head of x [T, heads * head_dim]; row t is at position pos + t.
void apply_rope(Matrix& x, int64_t head_dim, const std::vector<float>& inv_freq, int64_t pos = 0);

}  // namespace gq::engine
