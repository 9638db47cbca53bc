#include "engine/ops.h"

#include <algorithm>
#include <cmath>

namespace gq::engine {

namespace {
using ConstMap = Eigen::Map<const Matrix>;
}

namespace {

// A fixed-order dot product: 16 interleaved partial sums (the compiler vectorizes them), the tail,
// then a pairwise reduction. Its result depends on the two rows alone.
float dot(const float* a, const float* b, int64_t n) {
  constexpr int kLanes = 16;
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += a[i + l] * b[i + l];
  float tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) acc[l] += acc[l + width];
  return acc[0] + tail;
}

}  // namespace

// Not Eigen's GEMM: a GEMM blocks and orders its sums by the shapes of the whole product, so one
// token's row came out differently (~1e-5 on logits) when it was alone (a decode step) than among
// a sequence's rows. Here element (t, o) is dot(x_t, W_o) whatever the other rows are, so the
// incremental decode gives the full forward's logits bit for bit.
Matrix linear(const Matrix& x, const Tensor& w) {
  const int64_t T = x.rows(), out = w.shape[0], in = w.shape[1];
  Matrix y(T, out);
  // Row blocks of ~256 KiB stay in cache while every weight row streams past them once.
  const int64_t block = std::max<int64_t>(1, (int64_t(256) << 10) / (int64_t(sizeof(float)) * std::max<int64_t>(1, in)));
  for (int64_t t0 = 0; t0 < T; t0 += block) {
    const int64_t t1 = std::min(T, t0 + block);
    for (int64_t o = 0; o < out; ++o) {
      const float* wo = w.ptr() + o * in;
      for (int64_t t = t0; t < t1; ++t) y(t, o) = dot(x.row(t).data(), wo, in);
    }
  }
  return y;
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
