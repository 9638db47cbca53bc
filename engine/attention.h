// Gemma 4 self-attention on a whole sequence: causal, optionally a sliding window, grouped-query
// (query head h reads KV head h / (heads / kv_heads)), scaling 1 (the q/k norms replace 1/sqrt(d)).
#pragma once
#include <cstdint>

#include "engine/ops.h"

namespace gq::engine {

struct AttentionShape {
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  int64_t window = 0;  // > 0: key j is visible from query t only if t - j < window
};

// q [T, heads * head_dim], k and v [T, kv_heads * head_dim] -> [T, heads * head_dim].
Matrix attend(const Matrix& q, const Matrix& k, const Matrix& v, const AttentionShape& shape);

}  // namespace gq::engine
