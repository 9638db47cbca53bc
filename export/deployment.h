// What an export writes, against what the checkpoint or QAT run states: the deployment contract
// (recipes/recipe.h). A run's contract is the recipe it trained with, resolved in float32 (what it
// computed), with its learned scales; a plain checkpoint's is the recipe it is exported with,
// resolved with the checkpoint's float dtype. Both exporters write the contract by default. Flags
// that would store other numbers (another recipe or --type on a run, --dtype, --scale-dtype) are
// refused naming the first module or tensor they change and how to avoid it, unless the caller
// allows rounding; every change is then listed, so that it can be reported.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "recipes/recipe.h"
#include "run/quantization.h"

namespace gq {

struct DeploymentRequest {
  std::optional<Recipe> recipe;      // a plain checkpoint's recipe; on a run, one replacing the run's own
  std::optional<DType> unquantized;  // instead of a recipe: no quantization, every float in this dtype (GGUF --type f16)
  std::string request_flag = "--recipe";  // how messages name `recipe` / `unquantized` ("--type q8_0")
  std::optional<DType> float_dtype;  // --dtype: every float tensor
  std::optional<DType> scale_dtype;  // --scale-dtype: every channel / group scale
  bool allow_rounding = false;       // apply them even where they change the contract's numbers
};

struct DeploymentChange {
  std::string what;  // the module or tensor, its contract value and the exported one
  std::string fix;   // how to export what the contract states instead
};

struct Deployment {
  std::string checkpoint;        // the folder with config.json + weights (RUN/checkpoint for a run)
  bool run = false;              // a QAT run's checkpoint (recipe.json)
  std::optional<Recipe> recipe;  // the recipe the file is written with (none for `unquantized`)
  std::string what;              // names it in messages: "recipe 'q4_0' (recipes/q4_0.json)", "--type f16"
  ResolvedRecipe contract;       // what the run trained / what the recipe states on this checkpoint
  ResolvedRecipe deployed;       // what the file stores
  // A run written with the schemes it trained: its integers are kept, with its learned scales
  // (quant_params, when it has them) rounded to the deployed scale dtype.
  bool trained = false;
  std::shared_ptr<const run_folder::QuantParams> quant_params;  // when trained and present
  std::vector<DeploymentChange> changes;  // empty: the file holds exactly the contract's numbers
};

// `model_or_run`: a checkpoint or run folder. FormatError naming the checkpoint for a plain
// checkpoint without a recipe, and, unless request.allow_rounding, for the first change (one
// line: what changes, the fix, the flag that allows it).
Deployment plan_deployment(const std::string& model_or_run, const DeploymentRequest& request);

// What an allowed change does to the model's outputs, as a phrase for the warning ("max |Δlogit|
// 0.031 over 8 tokens ..."). The caller measures it: export/ has no model to run.
using RoundingEffect = std::function<std::string(const Deployment&)>;

// The changes of an allowed deployment as one warning (nothing when there are none), with the
// measured effect when `effect` is given; handed to `on_warning` as the exporters' warnings are.
void report_changes(const Deployment& d, const RoundingEffect& effect, std::vector<std::string>& kept,
                    const std::function<void(const std::string&)>& on_warning);

}  // namespace gq
