// quantize_model(model, recipe): the one call that puts fake-quant ops on a model (torchao's
// quantize_(model, config)). It fills the model's seams from a resolved recipe and returns what
// went where; remove_quantization undoes it, describe_quantization lists the current state.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "recipes/calibration.h"
#include "recipes/recipe.h"
#include "qat/gemma4_model.h"

namespace gq {

struct SeamAssignment {
  std::string module;  // "layers.0.self_attn.q_proj", "embed_tokens", "lm_head", "layers.0.self_attn"
  std::string seam;    // "weight", "input", "rows", "k_cache", "v_cache"
  std::string what;    // the quantizer's describe()
};

// Runtimes fuse q/k/v and gate/up into one matmul with one input scale: those inputs share one
// ActivationQuantizer (and so one calibrated or learned scale). With `calibration`, activation
// scales are set from it (an error names any recipe input it lacks).
std::vector<SeamAssignment> quantize_model(Gemma4Model& model, const ResolvedRecipe& recipe,
                                           const Calibration* calibration = nullptr);

void remove_quantization(Gemma4Model& model);
std::vector<SeamAssignment> describe_quantization(Gemma4Model& model);

// Turns every quantizer on or off without removing it (learned parameters are kept).
void set_quantization_enabled(Gemma4Model& model, bool on);

// Every quantizer parameter and buffer (learned weight scales and zero points, activation
// scales), keyed "<module>.<seam>.<name>", e.g. "layers.0.mlp.up_proj.weight.scale"; and back.
std::map<std::string, at::Tensor> quantization_state(Gemma4Model& model);
void load_quantization_state(Gemma4Model& model, const std::map<std::string, at::Tensor>& state);

// The activation scales now in the model (calibrated or learned) as a calibration record.
Calibration current_calibration(Gemma4Model& model, const std::string& recipe_name, const std::string& observer);

// Calibration: run batches through the model with every activation / KV quantizer observing
// (values pass through unquantized), then fix the scales. Returns the calibration record.
void begin_calibration(Gemma4Model& model);
Calibration finish_calibration(Gemma4Model& model, const std::string& recipe_name, const std::string& observer);

}  // namespace gq
