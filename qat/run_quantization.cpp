#include "qat/run_quantization.h"

#include <filesystem>
#include <map>

#include <ATen/ATen.h>

#include "model/quant_targets.h"
#include "formats/safetensors.h"
#include "qat/quantize.h"

namespace gq {

std::optional<RunQuantization> apply_run_quantization(Gemma4Model& model, const std::string& checkpoint_dir) {
  namespace fs = std::filesystem;
  const fs::path dir(checkpoint_dir);
  if (!fs::exists(dir / "recipe.json")) return std::nullopt;
  RunQuantization rq{resolve_recipe(Recipe::load((dir / "recipe.json").string()), gemma4_quant_targets(model->config())), {}};
  if (fs::exists(dir / "calibration.json")) {
    Calibration c = Calibration::load((dir / "calibration.json").string());
    if (!c.activations.empty()) rq.calibration = std::move(c);
  }
  quantize_model(model, rq.recipe, rq.calibration ? &*rq.calibration : nullptr);
  const auto file = SafetensorsFile::open((dir / "quant_params.safetensors").string());
  std::map<std::string, at::Tensor> state;
  for (const std::string& n : file->names()) {
    const TensorView& tv = file->tensor(n);
    at::Tensor t = at::empty(tv.shape, at::kFloat);
    tv.to_f32(t.data_ptr<float>());
    state[n] = t;
  }
  load_quantization_state(model, state);
  return rq;
}

}  // namespace gq
