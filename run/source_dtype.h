// The float dtype a recipe's "auto" resolves to (the deployment contract, recipes/recipe.h) for a
// path as the commands accept it.
#pragma once
#include <string>

#include "io/dtype.h"

namespace gq::run_folder {

// A run folder, or a checkpoint a run wrote (recipe.json or train_state.json beside it): F32, the
// dtype training computes and saves in, whatever it was fine-tuned from. A checkpoint folder: the
// dtype of its weights (model/checkpoint_layout.h). A config.json, or a folder without weights:
// the dtype the config names.
DType source_float_dtype(const std::string& path);

}  // namespace gq::run_folder
