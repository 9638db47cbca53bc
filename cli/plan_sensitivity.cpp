#include "cli/plan_sensitivity.h"

#include <algorithm>

#include "cli/model_setup.h"
#include "qat/quantize.h"

namespace gq::cli {

RecipeKlMeter::RecipeKlMeter(Gemma4Model& model, engine::PerplexityChunks chunks, int64_t batch_size)
    : model_(model), chunks_(std::move(chunks)), batch_size_(batch_size) {
  model_->eval();
  reference_ = scored_logits(0, chunks_.count());
}

std::vector<float> RecipeKlMeter::scored_logits(int64_t first_chunk, int64_t n) {
  const int64_t rows = chunks_.scored_per_chunk();
  std::vector<float> out;
  out.reserve(size_t(n * rows * model_->config().vocab_size));
  // Batches of batch_size_ chunks from chunk 0, as eval forms them (the same sums, the same figures).
  for (int64_t i0 = first_chunk; i0 < first_chunk + n; i0 += batch_size_) {
    std::vector<std::vector<int32_t>> batch;
    for (int64_t i = i0; i < std::min(i0 + batch_size_, first_chunk + n); ++i) batch.push_back(chunks_.chunk(i));
    const std::vector<float> y = cli::scored_logits(model_, batch, chunks_.first(), rows);
    out.insert(out.end(), y.begin(), y.end());
  }
  return out;
}

engine::PerplexityResult RecipeKlMeter::measure(const ResolvedRecipe& recipe) {
  quantize_model(model_, recipe);
  freeze_fake_quant(model_);
  const std::vector<float> y = scored_logits(0, chunks_.count());
  remove_quantization(model_);
  const int64_t rows = chunks_.scored_per_chunk(), V = model_->config().vocab_size;
  engine::PerplexityScorer scorer(V);
  for (int64_t i = 0; i < chunks_.count(); ++i)
    scorer.add(y.data() + size_t(i * rows * V), reference_.data() + size_t(i * rows * V), chunks_.targets(i), rows);
  return scorer.result();
}

}  // namespace gq::cli
