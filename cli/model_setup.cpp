#include "cli/model_setup.h"

#include <CLI/CLI.hpp>

#include "cli/options.h"
#include "io/error.h"
#include "model/quant_targets.h"
#include "qat/quantize.h"
#include "qat/run_quantization.h"
#include "recipes/calibration.h"
#include "run/run_folder.h"
#include "run/source_dtype.h"

namespace gq::cli {

void add_quant_args(CLI::App* cmd, QuantArgs& q) {
  cmd->add_option("--recipe", q.recipe,
                  "run the fake-quant model of this recipe (file or built-in name); a QAT run uses its own; none: "
                  "no fake quantization (a QAT run's float weights)");
  cmd->add_option("--calib", q.calib, "activation scales from `gemma-qat calibrate` (needed by recipes with static activations)");
}

std::optional<ResolvedRecipe> apply_quant_args(Gemma4Model& model, const QuantArgs& q, const std::string& model_path) {
  if (q.recipe.empty() || q.recipe == kNoRecipe) {
    if (!q.calib.empty()) throw FormatError("--calib needs --recipe R (a recipe other than none)");
    if (q.recipe == kNoRecipe) return std::nullopt;
    auto rq = apply_run_quantization(model, run_folder::checkpoint_dir(model_path));
    if (!rq) return std::nullopt;
    freeze_fake_quant(model);
    return rq->recipe;
  }
  const ResolvedRecipe rr =
      resolve_recipe(Recipe::load(q.recipe), gemma4_quant_targets(model->config()), run_folder::source_float_dtype(model_path));
  if (rr.has_static_activations() && q.calib.empty())
    throw FormatError("recipe " + rr.name + " quantizes activations with static scales: pass --calib FILE (from gemma-qat calibrate)");
  std::optional<Calibration> cal;
  if (!q.calib.empty()) cal = Calibration::load(q.calib);
  quantize_model(model, rr, cal ? &*cal : nullptr);
  freeze_fake_quant(model);
  return rr;
}

}  // namespace gq::cli
