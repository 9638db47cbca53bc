// Perplexity the way llama.cpp's llama-perplexity computes it (tools/perplexity/perplexity.cpp,
// perplexity() and kl_divergence()), on logits from any model: the token stream (BOS first) is cut
// into n_chunk = tokens / n_ctx chunks of n_ctx tokens; each chunk is evaluated from an empty cache
// with its first token replaced by BOS, and only the second half is scored: the logits at positions
// first = n_ctx / 2 .. n_ctx - 2 predict the chunk's next tokens (n_ctx - 1 - first per chunk), so
// every scored token sees at least n_ctx / 2 tokens of context. Beside a reference model's logits
// on the same chunks it also gives llama-perplexity's --kl-divergence figures: KL(reference ||
// model) per token, "same top p" (argmax agreement) and the reference's own perplexity.
#pragma once
#include <cstdint>
#include <vector>

namespace gq::engine {

class PerplexityChunks {
 public:
  // FormatError when the stream holds fewer than 2 * n_ctx tokens (llama-perplexity's own limit:
  // one chunk scores only its second half) or n_ctx < 4. `max_chunks` > 0 keeps the first ones.
  PerplexityChunks(std::vector<int32_t> tokens, int64_t n_ctx, int32_t bos, int64_t max_chunks = 0);

  int64_t n_ctx() const { return n_ctx_; }
  int64_t count() const { return count_; }
  int64_t first() const { return n_ctx_ / 2; }                 // first scored position
  int64_t scored_per_chunk() const { return n_ctx_ - 1 - first(); }
  // The n_ctx ids chunk i is evaluated on (BOS at position 0).
  std::vector<int32_t> chunk(int64_t i) const;
  // The scored_per_chunk() targets of chunk i: the tokens after positions first .. n_ctx - 2.
  const int32_t* targets(int64_t i) const { return tokens_.data() + i * n_ctx_ + first() + 1; }

 private:
  std::vector<int32_t> tokens_;
  int64_t n_ctx_ = 0, count_ = 0;
  int32_t bos_ = 0;
};

struct PerplexityResult {
  int64_t tokens = 0;          // scored tokens
  double mean_nll = 0;         // nats per token
  double perplexity() const;   // exp(mean_nll)
  // With a reference (has_reference):
  bool has_reference = false;
  double reference_mean_nll = 0;
  double reference_perplexity() const;
  double mean_kl = 0;          // mean over tokens of KL(reference || model), nats
  double kl_p99 = 0;           // its 99th percentile (nearest rank)
  double top1 = 0;             // share of tokens whose argmax agrees ("same top p")
};

// Accumulates scored rows chunk by chunk, in double as llama-perplexity does (its log-softmax: max
// subtracted, sum of exp in double).
class PerplexityScorer {
 public:
  explicit PerplexityScorer(int64_t vocab) : vocab_(vocab) {}
  // `rows` scored positions: logits [rows, vocab] of the model and, or nullptr, of the reference;
  // targets[r] is the token the row predicts.
  void add(const float* logits, const float* reference, const int32_t* targets, int64_t rows);
  PerplexityResult result() const;

 private:
  int64_t vocab_;
  double nll_ = 0, ref_nll_ = 0;
  int64_t tokens_ = 0, top1_ = 0;
  bool with_reference_ = false, without_reference_ = false;
  std::vector<double> kl_;
};

}  // namespace gq::engine
