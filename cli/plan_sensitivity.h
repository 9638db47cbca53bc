// KL(reference || the model under a recipe) for many recipes against one reference, measured as
// `eval` measures it (engine/perplexity.h: llama-perplexity's chunks, each chunk's second half
// scored): the budget planner's per-module sensitivities and its --verify (docs/planner.md).
#pragma once
#include <cstdint>
#include <vector>

#include "engine/perplexity.h"
#include "qat/gemma4_model.h"
#include "recipes/recipe.h"

namespace gq::cli {

class RecipeKlMeter {
 public:
  // Runs the model as it is (unquantized: the reference) over the chunks once and keeps its scored
  // logits: chunks x scored_per_chunk x vocab floats.
  RecipeKlMeter(Gemma4Model& model, engine::PerplexityChunks chunks, int64_t batch_size);
  // The model under `recipe` (quantize_model, frozen for inference) against the kept reference;
  // the model is left unquantized again.
  engine::PerplexityResult measure(const ResolvedRecipe& recipe);
  const engine::PerplexityChunks& chunks() const { return chunks_; }

 private:
  // Scored logits of chunks [first, first + n), [n, scored_per_chunk, vocab].
  std::vector<float> scored_logits(int64_t first, int64_t n);

  Gemma4Model& model_;
  engine::PerplexityChunks chunks_;
  int64_t batch_size_;
  std::vector<float> reference_;
};

}  // namespace gq::cli
