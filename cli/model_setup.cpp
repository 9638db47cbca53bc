#include "cli/model_setup.h"

#include <CLI/CLI.hpp>

#include "formats/calibration.h"
#include "formats/error.h"
#include "formats/quant_targets.h"
#include "qat/quantize.h"

namespace gq::cli {

void add_quant_args(CLI::App* cmd, QuantArgs& q) {
  cmd->add_option("--recipe", q.recipe, "run the fake-quant model of this recipe (file or built-in name)");
  cmd->add_option("--calib", q.calib, "activation scales from `gemma-qat calibrate` (needed by recipes with static activations)");
}

std::optional<ResolvedRecipe> apply_quant_args(Gemma4Model& model, const QuantArgs& q) {
  if (q.recipe.empty()) {
    if (!q.calib.empty()) throw FormatError("--calib needs --recipe");
    return std::nullopt;
  }
  const ResolvedRecipe rr = resolve_recipe(Recipe::load(q.recipe), gemma4_quant_targets(model->config()));
  if (!rr.activations.empty() && q.calib.empty())
    throw FormatError("recipe " + rr.name + " quantizes activations with static scales: pass --calib FILE (from gemma-qat calibrate)");
  std::optional<Calibration> cal;
  if (!q.calib.empty()) cal = Calibration::load(q.calib);
  quantize_model(model, rr, cal ? &*cal : nullptr);
  return rr;
}

}  // namespace gq::cli
