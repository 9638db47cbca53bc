// The fake-quant model a QAT run trained: its recipe, calibration and learned quantization
// parameters (read by run/quantization.h), put back on a model loaded from the run's checkpoint.
#pragma once
#include <optional>
#include <string>

#include "recipes/calibration.h"
#include "recipes/recipe.h"
#include "qat/gemma4_model.h"

namespace gq {

struct RunQuantization {
  ResolvedRecipe recipe;
  std::optional<Calibration> calibration;  // when the recipe has static activations
};

// `checkpoint_dir` is RUN/checkpoint (run_folder::checkpoint_dir). Returns nullopt when the run was
// plain fine-tuning (no recipe.json); otherwise quantizes `model` exactly as the run left it.
std::optional<RunQuantization> apply_run_quantization(Gemma4Model& model, const std::string& checkpoint_dir);

// The run's calibration and learned parameters on `recipe` in place of the run's own resolution
// of it (the same schemes with other storage dtypes: what an export that rounds them deploys).
void apply_run_quantization(Gemma4Model& model, const std::string& checkpoint_dir, const ResolvedRecipe& recipe);

}  // namespace gq
