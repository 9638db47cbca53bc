// Post-training quantization of a whole model by GPTQ (qat/gptq.h), leaving the model as the
// fake-quant model of the result: every Linear the recipe quantizes (and the head, when it has a
// tensor of its own) holds GPTQ's dequantized weights under a learned-scale quantizer set to GPTQ's
// scales, so that the fake-quant model, a run saved from it and every export compute GPTQ's integers.
//
// Order (sequential, as the reference GPTQ quantizes a model): stage by stage, the PLE model
// projection, then each decoder layer, then the head. A stage's Hessians come from one pass of the
// calibration windows through the whole model with every earlier stage already quantized (GPTQ's
// weights) and the stage itself in float (its weight quantizers off); the stage's Linears are then
// quantized from them. Within a layer all Linears share one pass (inputs of o_proj / down_proj come
// from the float q/k/v and gate/up of that layer, as in the reference's non-true-sequential mode).
// Embedding tables (a lookup), MoE expert banks and a head that reads the token table are RTN; the
// recipe's activation quantizers are left out of the passes (GPTQ is weight-only) and put back by
// the caller.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "recipes/recipe.h"
#include "text/corpus.h"
#include "qat/gemma4_model.h"
#include "qat/gptq.h"

namespace gq {

struct GptqModuleReport {
  std::string module;
  int64_t rows = 0, cols = 0;
  int64_t samples = 0;           // calibration rows its Hessian saw (0: its input never ran, RTN)
  double loss_rtn = 0, loss_gptq = 0;  // tr((W-Q) H (W-Q)^T) of RTN and GPTQ
};

// The recipe as a PTQ run holds it: weight scales learned (stored), so GPTQ's scales survive.
ResolvedRecipe with_stored_weight_scales(ResolvedRecipe recipe);

// `recipe` must already have stored weight scales (with_stored_weight_scales). Quantizes the model's
// weights in place (quantize_model with the recipe's weight rules only). `progress(stage, stages)`
// after each stage.
std::vector<GptqModuleReport> gptq_quantize_model(Gemma4Model& model, const ResolvedRecipe& recipe, const TokenWindows& calib,
                                                  int64_t batch_size, int64_t max_batches, const GptqOptions& opt,
                                                  const std::function<void(int64_t, int64_t)>& progress = {});

// The recipe as a PTQ run keeps it (checkpoint/recipe.json): the recipe file's JSON with
// unquantized_dtype resolved (a run's own weights are float32, so "auto" would deploy float32 where
// the recipe meant the source model's dtype) and, with stored_scales, "learnable_scales": true.
std::string ptq_recipe_json(const Recipe& recipe, const ResolvedRecipe& resolved, bool stored_scales);

// Writes RUN/checkpoint (created beside and swapped in whole, io/folder_swap.h) from the quantized
// model: config + float32 weights, quant_params.safetensors, calibration.json, recipe.json, the
// tokenizer file (if any) and train_state.json (step 0, `args_json` as its args: "command": "ptq",
// "model": the source model, ...).
void write_ptq_run(Gemma4Model& model, const std::string& run_dir, const ResolvedRecipe& recipe, const std::string& recipe_json,
                   const std::string& tokenizer_file, const std::string& args_json);

}  // namespace gq
