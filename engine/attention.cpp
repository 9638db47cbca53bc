#include "engine/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace gq::engine {

Matrix attend(const MatrixRef& q, const MatrixRef& k, const MatrixRef& v, const AttentionShape& a, int64_t q_pos,
              int64_t k_pos) {
  const int64_t T = q.rows(), S = k.rows(), hd = a.head_dim, group = a.heads / a.kv_heads;
  Matrix out = Matrix::Zero(T, a.heads * hd);
  std::vector<double> p(static_cast<size_t>(S));
  for (int64_t h = 0; h < a.heads; ++h) {
    const int64_t g = h / group;
    for (int64_t t = 0; t < T; ++t) {
      // Key rows j in [first, last]: positions pos - window + 1 .. pos, clipped to the keys held.
      const int64_t pos = q_pos + t;
      const int64_t last = std::min(S - 1, pos - k_pos);
      const int64_t first = a.window > 0 ? std::max<int64_t>(0, pos - a.window + 1 - k_pos) : 0;
      const float* qv = q.row(t).data() + h * hd;
      double mx = -INFINITY;
      for (int64_t j = first; j <= last; ++j) {
        p[size_t(j)] = fixed_order_dot(qv, k.row(j).data() + g * hd, hd);
        mx = std::max(mx, p[size_t(j)]);
      }
      double sum = 0;
      for (int64_t j = first; j <= last; ++j) sum += (p[size_t(j)] = std::exp(p[size_t(j)] - mx));
      float* o = out.row(t).data() + h * hd;
      for (int64_t j = first; j <= last; ++j) {
        const float w = float(p[size_t(j)] / sum);
        const float* vv = v.row(j).data() + g * hd;
        for (int64_t i = 0; i < hd; ++i) o[i] += w * vv[i];
      }
    }
  }
  return out;
}

}  // namespace gq::engine
