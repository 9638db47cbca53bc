// Gemma 4 self-attention: causal, optionally a sliding window, grouped-query (query head h reads KV
// head h / (heads / kv_heads)), scaling 1 (the q/k norms replace 1/sqrt(d)). Queries and keys carry
// their positions, so the same code runs a whole sequence and a decode step against a KV cache.
#pragma once
#include <cstdint>

#include "engine/ops.h"

namespace gq::engine {

struct AttentionShape {
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  int64_t window = 0;  // > 0: key j is visible from query t only if t - j < window
};

using MatrixRef = Eigen::Ref<const Matrix>;

// q [T, heads * head_dim] at positions q_pos.., k and v [S, kv_heads * head_dim] at positions
// k_pos.. -> [T, heads * head_dim]. Every query must see at least one key (k_pos <= q_pos, and the
// keys reach up to the last query's position).
Matrix attend(const MatrixRef& q, const MatrixRef& k, const MatrixRef& v, const AttentionShape& shape, int64_t q_pos = 0,
              int64_t k_pos = 0);

}  // namespace gq::engine
