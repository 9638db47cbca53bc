// llama-perplexity's chunking and scoring (engine/perplexity.h) against a direct computation: which
// tokens each chunk holds, which are scored, and the perplexity / KL / top-1 figures, written out
// here without the scorer's code (long double softmax, the chunk layout from the definition).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "engine/perplexity.h"
#include "io/error.h"

namespace gq::engine {
namespace {

TEST(PerplexityChunks, LlamaPerplexityLayout) {
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 37; ++i) tokens.push_back(100 + i);  // 37 tokens, n_ctx 8: 4 chunks, 5 left over
  const PerplexityChunks c(tokens, 8, 2);
  EXPECT_EQ(c.count(), 4);
  EXPECT_EQ(c.first(), 4);
  EXPECT_EQ(c.scored_per_chunk(), 3);  // positions 4, 5, 6 predict tokens 5, 6, 7 of the chunk
  const std::vector<int32_t> ch = c.chunk(2);
  ASSERT_EQ(ch.size(), 8u);
  EXPECT_EQ(ch[0], 2);  // BOS in place of token 16
  for (int j = 1; j < 8; ++j) EXPECT_EQ(ch[size_t(j)], 100 + 16 + j);
  for (int r = 0; r < 3; ++r) EXPECT_EQ(c.targets(2)[r], 100 + 16 + 5 + r);
  EXPECT_EQ(PerplexityChunks(tokens, 8, 2, 3).count(), 3);
  EXPECT_EQ(PerplexityChunks(tokens, 8, 2, 9).count(), 4);
  EXPECT_THROW(PerplexityChunks(tokens, 19, 2), FormatError);  // fewer than 2 * n_ctx tokens
  EXPECT_NO_THROW(PerplexityChunks(tokens, 18, 2));
}

// Direct: log p(t) = x_t - log sum exp x, in long double.
long double log_prob(const std::vector<float>& x, size_t off, int64_t V, int64_t t) {
  long double s = 0;
  for (int64_t i = 0; i < V; ++i) s += std::exp((long double)x[off + size_t(i)]);
  return (long double)x[off + size_t(t)] - std::log(s);
}

TEST(PerplexityScorer, MatchesDirectComputation) {
  const int64_t V = 7, rows = 5, chunks = 3;
  std::mt19937 rng(7);
  std::normal_distribution<float> n(0.0f, 2.0f);
  std::vector<float> x(size_t(chunks * rows * V)), y(x.size());
  for (float& v : x) v = n(rng);
  for (float& v : y) v = n(rng);
  std::vector<int32_t> targets(size_t(chunks * rows));
  for (size_t i = 0; i < targets.size(); ++i) targets[i] = int32_t((i * 5 + 3) % V);

  PerplexityScorer s(V);
  for (int64_t k = 0; k < chunks; ++k)
    s.add(x.data() + k * rows * V, y.data() + k * rows * V, targets.data() + k * rows, rows);
  const PerplexityResult r = s.result();

  long double nll = 0, ref_nll = 0;
  std::vector<long double> kl;
  int64_t same = 0;
  for (int64_t p = 0; p < chunks * rows; ++p) {
    const size_t off = size_t(p * V);
    nll -= log_prob(x, off, V, targets[size_t(p)]);
    ref_nll -= log_prob(y, off, V, targets[size_t(p)]);
    long double d = 0;
    for (int64_t i = 0; i < V; ++i) {
      const long double lq = log_prob(y, off, V, i), lp = log_prob(x, off, V, i);
      d += std::exp(lq) * (lq - lp);
    }
    kl.push_back(d);
    int64_t ax = 0, ay = 0;
    for (int64_t i = 1; i < V; ++i) {
      if (x[off + size_t(i)] > x[off + size_t(ax)]) ax = i;
      if (y[off + size_t(i)] > y[off + size_t(ay)]) ay = i;
    }
    same += ax == ay;
  }
  const double N = double(chunks * rows);
  EXPECT_EQ(r.tokens, chunks * rows);
  EXPECT_NEAR(r.mean_nll, double(nll) / N, 1e-9);
  EXPECT_NEAR(r.perplexity(), std::exp(double(nll) / N), 1e-9 * r.perplexity());
  ASSERT_TRUE(r.has_reference);
  EXPECT_NEAR(r.reference_mean_nll, double(ref_nll) / N, 1e-9);
  long double sum = 0, mx = 0;
  for (long double d : kl) sum += d, mx = std::max(mx, d);
  // KL sums over the whole row: the float subtraction x - max (llama-perplexity's expf(x - max))
  // shows at 1e-8.
  EXPECT_NEAR(r.mean_kl, double(sum) / N, 1e-6);
  EXPECT_NEAR(r.kl_p99, double(mx), 1e-6);  // 15 tokens: the 99th percentile by nearest rank is the largest
  EXPECT_DOUBLE_EQ(r.top1, double(same) / N);
  EXPECT_GT(r.mean_kl, 0.01);
  EXPECT_LT(r.top1, 1.0);
}

TEST(PerplexityScorer, SameLogitsGiveNoDivergence) {
  const int64_t V = 5, rows = 4;
  std::vector<float> x = {1, 2, 3, 4, 5, -1, 0, 3, 1, 2, 9, 0, 0, 0, 1, 2, 2, 2, 2, 3};
  std::vector<float> shifted(x);
  for (float& v : shifted) v += 3.0f;  // softmax is shift-invariant
  const std::vector<int32_t> t = {4, 0, 0, 2};
  PerplexityScorer s(V);
  s.add(x.data(), shifted.data(), t.data(), rows);
  const PerplexityResult r = s.result();
  EXPECT_NEAR(r.mean_kl, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(r.top1, 1.0);
  EXPECT_NEAR(r.mean_nll, r.reference_mean_nll, 1e-12);
  // Uniform logits over V tokens: perplexity V.
  PerplexityScorer u(V);
  const std::vector<float> flat(size_t(V), 0.5f);
  const int32_t target = 3;
  u.add(flat.data(), nullptr, &target, 1);
  EXPECT_NEAR(u.result().perplexity(), double(V), 1e-12);
  EXPECT_FALSE(u.result().has_reference);
  EXPECT_THROW(u.add(flat.data(), flat.data(), &target, 1), FormatError);  // mixing with and without a reference
  const int32_t bad = 5;
  EXPECT_THROW(PerplexityScorer(V).add(flat.data(), nullptr, &bad, 1), FormatError);
}

}  // namespace
}  // namespace gq::engine
