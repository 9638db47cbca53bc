#include "qat/calibration_pass.h"

#include <algorithm>

#include <ATen/ATen.h>

namespace gq {

ResolvedRecipe weight_schemes_only(ResolvedRecipe recipe) {
  recipe.activations.clear();
  recipe.output_activations.clear();
  recipe.kv_cache.reset();
  return recipe;
}

void forward_calibration(Gemma4Model& model, const TokenWindows& calib, int64_t batch_size, int64_t batches) {
  at::NoGradGuard ng;
  const int64_t T = calib.seq_len;
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t first = b * batch_size, rows = std::min(batch_size, calib.count() - first);
    if (rows <= 0) break;
    at::Tensor ids = at::empty({rows, T}, at::kLong);
    int64_t* p = ids.data_ptr<int64_t>();
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < T; ++j) p[i * T + j] = calib.window(first + i)[j];
    model->forward(ids.to(model->embed_tokens->weight.device()));
  }
}

InputStatsCollector::InputStatsCollector(int64_t cols) : acc_(cols), abs_sum_(at::zeros({cols}, at::kDouble)) {}

at::Tensor InputStatsCollector::forward(const at::Tensor& x) {
  acc_.add(x);
  at::NoGradGuard ng;
  abs_sum_.add_(x.detach().reshape({-1, abs_sum_.size(0)}).to(at::kCPU).to(at::kDouble).abs().sum(0));
  return x;
}

at::Tensor InputStatsCollector::abs_mean() const { return rows() ? abs_sum_ / double(rows()) : abs_sum_.clone(); }

}  // namespace gq
