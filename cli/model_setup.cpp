#include "cli/model_setup.h"

#include <CLI/CLI.hpp>

#include <ATen/ATen.h>
#include <torch/types.h>

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

std::vector<float> scored_logits(Gemma4Model& model, const std::vector<std::vector<int32_t>>& chunks, int64_t first,
                                 int64_t rows) {
  at::NoGradGuard ng;
  const int64_t B = int64_t(chunks.size()), T = int64_t(chunks[0].size());
  at::Tensor ids = at::empty({B, T}, at::kLong);
  int64_t* p = ids.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) p[b * T + t] = chunks[size_t(b)][size_t(t)];
  const at::Tensor y =
      model->forward(ids.to(model->embed_tokens->weight.device())).logits.narrow(1, first, rows).to(at::kCPU).contiguous();
  return std::vector<float>(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
}

}  // namespace gq::cli
