#include "engine/ops.h"

#include <cmath>

namespace gq::engine {

namespace {
using ConstMap = Eigen::Map<const Matrix>;
}

Matrix linear(const Matrix& x, const Tensor& w) {
  const int64_t out = w.shape[0], in = w.shape[1];
  const ConstMap W(w.ptr(), out, in);
  return x * W.transpose();
}

Eigen::VectorXf expert_linear(const Eigen::VectorXf& x, const Tensor& w, int64_t expert) {
  const int64_t out = w.shape[1], in = w.shape[2];
  const ConstMap W(w.ptr() + expert * out * in, out, in);
  return W * x;
}

void rms_norm(Matrix& x, int64_t dim, const Tensor* weight, double eps) {
  const int64_t groups = x.cols() / dim;
  for (int64_t r = 0; r < x.rows(); ++r) {
    float* row = x.row(r).data();
    for (int64_t g = 0; g < groups; ++g) {
      float* v = row + g * dim;
      // The mean of squares in double: HF's float32 mean is within float noise of it.
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += double(v[i]) * double(v[i]);
      const float inv = float(1.0 / std::sqrt(ss / double(dim) + eps));
      for (int64_t i = 0; i < dim; ++i) v[i] = v[i] * inv * (weight ? weight->data[size_t(i)] : 1.0f);
    }
  }
}

float gelu_tanh(float x) {
  const double v = x;
  return float(0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v))));
}

}  // namespace gq::engine
