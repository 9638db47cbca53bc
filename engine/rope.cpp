#include "engine/rope.h"

#include <cmath>

namespace gq::engine {

std::vector<float> rope_inv_freq(const RopeParams& rope, int64_t head_dim) {
  const int64_t half = head_dim / 2;
  int64_t rotated = half;
  double factor = 1.0;
  if (rope.rope_type == "proportional") {
    rotated = int64_t(rope.partial_rotary_factor * double(head_dim)) / 2;
    factor = rope.factor;
  }
  std::vector<float> inv(size_t(half), 0.0f);
  for (int64_t j = 0; j < rotated; ++j) {
    const float f = float(1.0 / std::pow(rope.rope_theta, double(2 * j) / double(head_dim)));
    inv[size_t(j)] = float(double(f) / factor);
  }
  return inv;
}

void apply_rope(Matrix& x, int64_t head_dim, const std::vector<float>& inv_freq, int64_t pos) {
  const int64_t half = head_dim / 2, heads = x.cols() / head_dim;
  std::vector<float> c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
  for (int64_t t = 0; t < x.rows(); ++t) {
    for (int64_t j = 0; j < half; ++j) {
      // HF forms the angle as a float32 product of position and inv_freq, then takes cos / sin.
      const float ang = float(pos + t) * inv_freq[size_t(j)];
      c[size_t(j)] = float(std::cos(double(ang)));
      s[size_t(j)] = float(std::sin(double(ang)));
    }
    float* row = x.row(t).data();
    for (int64_t h = 0; h < heads; ++h) {
      float* v = row + h * head_dim;
      for (int64_t j = 0; j < half; ++j) {
        const float a = v[j], b = v[j + half];
        v[j] = a * c[size_t(j)] - b * s[size_t(j)];
        v[j + half] = b * c[size_t(j)] + a * s[size_t(j)];
      }
    }
  }
}

}  // namespace gq::engine
