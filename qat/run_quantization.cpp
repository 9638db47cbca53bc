#include "qat/run_quantization.h"

#include <map>

#include <ATen/ATen.h>

#include "formats/safetensors.h"
#include "model/quant_targets.h"
#include "qat/quantize.h"
#include "run/quantization.h"
#include "run/source_dtype.h"

namespace gq {

std::optional<RunQuantization> apply_run_quantization(Gemma4Model& model, const std::string& checkpoint_dir) {
  const std::optional<Recipe> recipe = run_folder::read_recipe(checkpoint_dir);
  if (!recipe) return std::nullopt;
  const DType source = run_folder::source_float_dtype(checkpoint_dir);  // a run's: float32
  RunQuantization rq{resolve_recipe(*recipe, gemma4_quant_targets(model->config()), source), {}};
  apply_run_quantization(model, checkpoint_dir, rq.recipe);
  if (std::optional<Calibration> c = run_folder::read_calibration(checkpoint_dir); c && !(c->activations.empty() && c->output_activations.empty()))
    rq.calibration = std::move(*c);
  return rq;
}

void apply_run_quantization(Gemma4Model& model, const std::string& checkpoint_dir, const ResolvedRecipe& recipe) {
  std::optional<Calibration> calibration = run_folder::read_calibration(checkpoint_dir);
  if (calibration && calibration->activations.empty() && calibration->output_activations.empty()) calibration.reset();
  quantize_model(model, recipe, calibration ? &*calibration : nullptr);
  const auto params = run_folder::QuantParams::open(checkpoint_dir);
  std::map<std::string, at::Tensor> state;
  for (const std::string& n : params->file().names()) {
    const TensorView& tv = params->file().tensor(n);
    at::Tensor t = at::empty(tv.shape, at::kFloat);
    tv.to_f32(t.data_ptr<float>());
    state[n] = t;
  }
  load_quantization_state(model, state);
}

}  // namespace gq
