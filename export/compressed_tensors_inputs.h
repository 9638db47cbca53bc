// The inputs of a compressed-tensors export besides the weights: where the checkpoint is, which
// recipe applies and whether it is a QAT run's own (trained integers to keep: export/deployment.h),
// the run's learned weight scales / zero points, and the static input and KV scales from the
// calibration.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "export/deployment.h"
#include "model/gemma4_config.h"
#include "quant/activation.h"
#include "recipes/recipe.h"
#include "run/quantization.h"

namespace gq::compressed_tensors {

struct Inputs {
  std::string checkpoint;  // folder holding config.json + weights (RUN/checkpoint for a run)
  Recipe recipe;
  bool from_run = false;   // a QAT run written with the schemes it trained: keep the trained integers
  std::shared_ptr<const run_folder::QuantParams> quant_params;  // the run's, when from_run and present
  std::map<std::string, quant::ActivationParams> input_params;   // Linear or lm_head -> static input scale
  std::map<std::string, quant::ActivationParams> output_params;  // Linear or lm_head -> static output scale
  std::map<int64_t, std::pair<float, float>> kv_scales;        // layer -> (k_scale, v_scale)

  // Whether the run holds learned weight scales for `module`.
  bool has_learned_scales(const std::string& module) const {
    return quant_params && quant_params->has_weight_scale(module);
  }
};

// From the planned deployment. Input / KV scales are read by read_static_scales.
Inputs read_inputs(const Deployment& d);

// Fills input_params, output_params and kv_scales for what the resolved recipe needs. `calibration`: a file, or ""
// for the checkpoint folder's calibration.json. FormatError names the calibration file and the
// missing or inconsistent entry.
void read_static_scales(Inputs& in, const Gemma4Config& cfg, const ResolvedRecipe& rr, const std::string& calibration);

}  // namespace gq::compressed_tensors
