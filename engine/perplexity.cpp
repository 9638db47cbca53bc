#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "io/error.h"

namespace gq::engine {
namespace {

// llama-perplexity's log_softmax: float max, double sum of expf(x - max).
double log_sum_exp(const float* x, int64_t n) {
  const float mx = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[i] - mx));
  return double(mx) + std::log(sum);
}

}  // namespace

PerplexityChunks::PerplexityChunks(std::vector<int32_t> tokens, int64_t n_ctx, int32_t bos, int64_t max_chunks)
    : tokens_(std::move(tokens)), n_ctx_(n_ctx), bos_(bos) {
  if (n_ctx_ < 4) throw FormatError("n_ctx " + std::to_string(n_ctx_) + " is too small (at least 4)");
  if (int64_t(tokens_.size()) < 2 * n_ctx_)
    throw FormatError("the text has " + std::to_string(tokens_.size()) + " tokens; perplexity with n_ctx " +
                      std::to_string(n_ctx_) + " needs at least " + std::to_string(2 * n_ctx_) +
                      " (as llama-perplexity: pass a smaller --ctx or more text)");
  count_ = int64_t(tokens_.size()) / n_ctx_;
  if (max_chunks > 0) count_ = std::min(count_, max_chunks);
}

std::vector<int32_t> PerplexityChunks::chunk(int64_t i) const {
  std::vector<int32_t> ids(tokens_.begin() + i * n_ctx_, tokens_.begin() + (i + 1) * n_ctx_);
  ids[0] = bos_;
  return ids;
}

double PerplexityResult::perplexity() const { return std::exp(mean_nll); }
double PerplexityResult::reference_perplexity() const { return std::exp(reference_mean_nll); }

void PerplexityScorer::add(const float* logits, const float* reference, const int32_t* targets, int64_t rows) {
  (reference ? with_reference_ : without_reference_) = true;
  if (with_reference_ && without_reference_) throw FormatError("perplexity: some chunks were scored without the reference");
  const int64_t V = vocab_;
  std::vector<double> lp(size_t(reference ? V : 0));
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * V;
    const int32_t t = targets[r];
    if (t < 0 || t >= V) throw FormatError("perplexity: target token " + std::to_string(t) + " is outside the vocabulary");
    const double lse = log_sum_exp(x, V);
    nll_ += lse - double(x[t]);
    ++tokens_;
    if (!reference) continue;
    const float* y = reference + r * V;
    const double rlse = log_sum_exp(y, V);
    ref_nll_ += rlse - double(y[t]);
    double kl = 0;
    for (int64_t i = 0; i < V; ++i) {
      const double lq = double(y[i]) - rlse;
      kl += std::exp(lq) * (lq - (double(x[i]) - lse));
    }
    kl_.push_back(std::max(kl, 0.0));  // rounding can leave -1e-17 for identical rows
    top1_ += (std::max_element(x, x + V) - x) == (std::max_element(y, y + V) - y);
  }
}

PerplexityResult PerplexityScorer::result() const {
  PerplexityResult r;
  r.tokens = tokens_;
  r.mean_nll = tokens_ ? nll_ / double(tokens_) : std::nan("");
  r.has_reference = with_reference_;
  if (!with_reference_) return r;
  r.reference_mean_nll = ref_nll_ / double(tokens_);
  double sum = 0;
  for (double k : kl_) sum += k;
  r.mean_kl = sum / double(kl_.size());
  std::vector<double> sorted = kl_;
  // Nearest rank: the smallest value with at least 99% of the tokens at or below it.
  const size_t rank = size_t(std::ceil(0.99 * double(sorted.size())));
  std::nth_element(sorted.begin(), sorted.begin() + std::ptrdiff_t(rank - 1), sorted.end());
  r.kl_p99 = sorted[rank - 1];
  r.top1 = double(top1_) / double(tokens_);
  return r;
}

}  // namespace gq::engine
