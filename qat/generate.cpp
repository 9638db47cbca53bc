#include "qat/generate.h"

#include <limits>

#include <ATen/ATen.h>
#include <torch/types.h>

namespace gq {

std::vector<int64_t> greedy_generate(Gemma4Model& model, const std::vector<int64_t>& prompt, int n,
                                     const GreedyOptions& opt) {
  at::NoGradGuard ng;
  KVCache cache = model->new_cache();
  const at::Tensor banned = at::tensor(opt.banned, at::kLong);
  std::vector<int64_t> out;
  at::Tensor input = at::tensor(prompt, at::kLong).unsqueeze(0);
  for (int i = 0; i < n; ++i) {
    at::Tensor last = model->forward(input, &cache).logits[0][-1];
    if (!opt.banned.empty()) last = last.index_fill(0, banned, -std::numeric_limits<float>::infinity());
    const int64_t next = last.argmax().item<int64_t>();
    out.push_back(next);
    if (opt.on_token && !opt.on_token(next)) break;
    if (opt.stop_at_eos && next == model->config().eos_token_id) break;
    input = at::full({1, 1}, next, at::kLong);
  }
  return out;
}

}  // namespace gq
