// The inputs of a compressed-tensors export besides the weights: where the checkpoint is, which
// recipe applies and whether it is a QAT run's own (trained integers to keep), the run's learned
// weight scales / zero points, and the static input and KV scales from the calibration.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "recipes/calibration.h"
#include "model/gemma4_config.h"
#include "quant/activation.h"
#include "recipes/recipe.h"

namespace gq {

class SafetensorsFile;

struct CtInputs {
  std::string checkpoint;  // folder holding config.json + weights (RUN/checkpoint for a run)
  Recipe recipe;
  bool from_run = false;   // the recipe is the run's recipe.json: keep the trained integers
  std::shared_ptr<SafetensorsFile> quant_params;  // the run's, when from_run and present
  std::map<std::string, quant::ActivationParams> input_params;  // Linear module -> static input scale
  std::map<int64_t, std::pair<float, float>> kv_scales;        // layer -> (k_scale, v_scale)
  std::vector<std::string> warnings;
};

// `recipe`: the caller's (replaces a run's own), or nullopt. `calibration`: a file, or "" for the
// checkpoint folder's calibration.json. Input / KV scales are read only if the recipe needs them.
CtInputs read_ct_inputs(const std::string& model_or_run, const std::optional<Recipe>& recipe);

// Fills input_params and kv_scales for what the resolved recipe needs. FormatError names the
// calibration file and the missing or inconsistent entry.
void read_ct_scales(CtInputs& in, const Gemma4Config& cfg, const ResolvedRecipe& rr, const std::string& calibration);

// Whether the run holds "<module>.weight.scale" (learned scales) for `module`.
bool has_learned_scales(const CtInputs& in, const std::string& module);
// Rows [row0, row0 + rows) of a learned "<module>.weight.<what>" tensor (what: "scale" or
// "zero_point") whose layout is [total_rows, per_row]; FormatError if its size differs.
std::vector<float> learned_rows(const CtInputs& in, const std::string& module, const std::string& what,
                                int64_t total_rows, int64_t per_row, int64_t row0, int64_t rows);

}  // namespace gq
