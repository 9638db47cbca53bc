#include "qat/evaluate.h"

#include <cmath>

#include <ATen/ATen.h>
#include <torch/types.h>

namespace gq {

double EvalResult::perplexity() const { return std::exp(mean_loss); }

EvalResult evaluate_windows(Gemma4Model& model, const TokenWindows& w, int64_t batch_size, int64_t max_batches) {
  at::NoGradGuard ng;
  const int64_t T = w.seq_len, n = w.count();
  int64_t batches = (n + batch_size - 1) / batch_size;
  if (max_batches > 0) batches = std::min(batches, max_batches);
  const auto dev = model->embed_tokens->weight.device();
  double total = 0;
  EvalResult r;
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t first = b * batch_size, rows = std::min(batch_size, n - first);
    at::Tensor ids = at::empty({rows, T + 1}, at::kLong);
    int64_t* out = ids.data_ptr<int64_t>();
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t t = 0; t <= T; ++t) out[i * (T + 1) + t] = w.window(first + i)[t];
    ids = ids.to(dev);
    const at::Tensor logits = model->forward(ids.narrow(1, 0, T)).logits;
    total += at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), ids.narrow(1, 1, T).reshape(-1),
                                    /*weight=*/{}, at::Reduction::Sum)
                 .item<double>();
    r.tokens += rows * T;
  }
  r.mean_loss = r.tokens ? total / double(r.tokens) : std::nan("");
  return r;
}

}  // namespace gq
