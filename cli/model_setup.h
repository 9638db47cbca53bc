// Loading a model for a command, optionally with a recipe's fake-quant ops and a calibration.
#pragma once
#include <optional>
#include <string>

#include "recipes/recipe.h"
#include "qat/gemma4_model.h"

namespace CLI {
class App;
}

namespace gq::cli {

struct QuantArgs {
  std::string recipe;  // file or built-in name; empty = unquantized
  std::string calib;   // calibration file from `gemma-qat calibrate`
};
void add_quant_args(CLI::App* cmd, QuantArgs& q);

// Applies the recipe (if any) to the model. A recipe with static activation scales needs a
// calibration file: an uncalibrated quantizer would silently pass values through. Without
// --recipe, a QAT run folder (`model_path`) gets the fake-quant model it trained (its recipe,
// calibration and learned scales); --recipe none evaluates its weights unquantized. For inference
// commands only (logits, generate, eval, validate): the weights are frozen (freeze_fake_quant), each
// quantized once.
std::optional<ResolvedRecipe> apply_quant_args(Gemma4Model& model, const QuantArgs& q, const std::string& model_path);

}  // namespace gq::cli
