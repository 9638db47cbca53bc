#include "engine/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "engine/activation_quant.h"

namespace gq::engine {

Matrix moe_block(const ModelWeights& w, const std::string& p, const Matrix& residual) {
  const Gemma4Config& c = w.config();
  const int64_t T = residual.rows(), H = c.hidden_size, E = c.num_experts, k = c.top_k_experts;
  const double eps = c.rms_norm_eps;

  // Router: RMSNorm without weight, times router.scale and H^-0.5, then a linear to E logits.
  Matrix z = residual;
  rms_norm(z, H, nullptr, eps);
  const Tensor& scale = w.get(p + "router.scale");
  const float root = float(std::pow(double(H), -0.5));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < H; ++i) z(t, i) = z(t, i) * scale.data[size_t(i)] * root;
  const Matrix logits = quantized_linear(w, z, p + "router.proj");
  const Tensor& per_expert = w.get(p + "router.per_expert_scale");

  Matrix u = residual;
  rms_norm(u, H, &w.get(p + "pre_feedforward_layernorm_2.weight"), eps);
  const Tensor& gate_up = w.get(p + "experts.gate_up_proj");  // [E, 2 * Ie, H]: gate rows, then up rows
  const Tensor& down = w.get(p + "experts.down_proj");        // [E, H, Ie]
  const int64_t Ie = gate_up.shape[1] / 2;

  float (*const gelu)(float) = w.form() == WeightForm::Fast ? gelu_tanh_f16_table : gelu_tanh;  // as decoder.cpp
  Matrix out = Matrix::Zero(T, H);
  std::vector<double> prob(static_cast<size_t>(E));
  std::vector<int64_t> order(static_cast<size_t>(E));
  for (int64_t t = 0; t < T; ++t) {
    double mx = -INFINITY, sum = 0;
    for (int64_t e = 0; e < E; ++e) mx = std::max(mx, double(logits(t, e)));
    for (int64_t e = 0; e < E; ++e) sum += (prob[size_t(e)] = std::exp(double(logits(t, e)) - mx));
    for (double& q : prob) q /= sum;
    // Top k by probability; equal ones in index order (torch.topk's order on ties is unspecified,
    // a stable descending sort is the reference's).
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return prob[size_t(a)] > prob[size_t(b)]; });
    double chosen = 0;
    for (int64_t j = 0; j < k; ++j) chosen += prob[size_t(order[size_t(j)])];

    const Eigen::VectorXf x = u.row(t).transpose();
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = order[size_t(j)];
      const float weight = float(prob[size_t(e)] / chosen) * per_expert.data[size_t(e)];
      const Eigen::VectorXf y = expert_linear(x, gate_up, e);
      Eigen::VectorXf hidden(Ie);
      for (int64_t i = 0; i < Ie; ++i) hidden[i] = gelu(y[i]) * y[Ie + i];
      out.row(t) += weight * expert_linear(hidden, down, e).transpose();
    }
  }
  rms_norm(out, H, &w.get(p + "post_feedforward_layernorm_2.weight"), eps);
  return out;
}

}  // namespace gq::engine
