// Loading a model for a command, optionally with a recipe's fake-quant ops and a calibration.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

// One forward of the chunks (equal lengths) as a batch, without grad: rows first .. first + rows - 1
// of each chunk's logits, [chunks.size(), rows, vocab] row-major (eval's and the planner's scoring).
std::vector<float> scored_logits(Gemma4Model& model, const std::vector<std::vector<int32_t>>& chunks, int64_t first,
                                 int64_t rows);

}  // namespace gq::cli
