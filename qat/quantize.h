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
#include "qat/learned_scale.h"

namespace gq {

struct SeamAssignment {
  std::string module;  // "layers.0.self_attn.q_proj", "embed_tokens", "lm_head", "layers.0.self_attn",
                       // "layers.0.input_layernorm", "layers.0.router", "layers.0"
  std::string seam;    // "weight", "input", "output", "rows", "k_cache", "v_cache", "scale",
                       // "per_expert_scale", "layer_scalar"
  std::string what;    // the quantizer's describe()
};

// The model then computes what the deployed file holds: quantized weights and tables, static
// activations on Linear / head inputs and outputs, the KV cache, and every other float tensor
// rounded to recipe.float_dtype (norms, router, unquantized tables, projections and head; nothing
// for F32). Runtimes fuse q/k/v and gate/up into one matmul with one input and one output scale:
// those inputs share one ActivationQuantizer, and so do those outputs (one calibrated or learned
// scale each). With `calibration`, activation scales are set from it (an error names any recipe
// input or output it lacks).
std::vector<SeamAssignment> quantize_model(Gemma4Model& model, const ResolvedRecipe& recipe,
                                           const Calibration* calibration = nullptr);

void remove_quantization(Gemma4Model& model);
std::vector<SeamAssignment> describe_quantization(Gemma4Model& model);

// Turns every quantizer on or off without removing it (learned parameters are kept).
void set_quantization_enabled(Gemma4Model& model, bool on);

// Inference on a fake-quant model (generate, logits, eval, validate): every weight-like tensor seam
// (Linear and expert weights, the head, float tensors rounded to the float dtype) computes its
// output once and forward reuses it, so decoding costs what the float model's does; activation and
// KV seams still quantize every forward (they depend on the input). The embedding tables stay live
// (a forward quantizes only the rows it gathers; a copy would cost a whole float table), except a
// tied head on the table's grid, whose frozen copy the gather reads. The price is one float copy of
// each other quantized tensor. Frozen until unfreeze_fake_quant, a second freeze_fake_quant,
// quantize_model, remove_quantization or load_quantization_state: a frozen weight written in
// between is not seen, and a forward in grad mode (training) is refused.
void freeze_fake_quant(Gemma4Model& model);
void unfreeze_fake_quant(Gemma4Model& model);

// Every quantizer parameter and buffer (learned scales' init_scale / log_scale_ratio, zero points,
// activation scales) plus each learned scale as used ("scale", what exporters read), keyed
// "<module>.<seam>.<name>", e.g. "layers.0.mlp.up_proj.weight.scale"; and back (a state saved
// with only "scale" for a learned scale, before log ratios, starts the learned scale there).
std::map<std::string, at::Tensor> quantization_state(Gemma4Model& model);
void load_quantization_state(Gemma4Model& model, const std::map<std::string, at::Tensor>& state);

// The learned-scale parameters, each once: an optimizer group of their own with learning rate
// kLearnedScaleLrMultiplier (qat/learned_scale.h) times the weights' and no weight decay.
std::vector<at::Tensor> learned_scale_parameters(Gemma4Model& model);

// The tensor seams that hold a quantizer (weights, tables, float tensors rounded to the float
// dtype), by the checkpoint tensor each reads (names as below); the head's is not among them.
struct TensorSeam {
  QuantSeam* seam;
  at::Tensor tensor;
};
std::map<std::string, TensorSeam> tensor_seams(Gemma4Model& model);

// Every stored tensor as the model computes with it, float32 on the CPU, by checkpoint name
// without prefix ("layers.0.self_attn.q_proj.weight", "layers.0.experts.gate_up_proj"): each tensor
// seam's output (a quantized weight dequantized on its grid, a float tensor rounded to the recipe's
// float dtype), the rest as held; plus "lm_head.weight", the head the logits are computed with (the
// table through the head seam when tied). What every exporter must write (tests/contract).
std::map<std::string, at::Tensor> simulated_tensors(Gemma4Model& model);

// The activation scales now in the model (calibrated or learned; inputs and outputs) as a
// calibration record.
Calibration current_calibration(Gemma4Model& model, const std::string& recipe_name, const std::string& observer);

// Calibration: run batches through the model with every activation (input and output) / KV
// quantizer observing (values pass through unquantized), then fix the scales. Returns the
// calibration record (output scales in its output_activations).
void begin_calibration(Gemma4Model& model);
Calibration finish_calibration(Gemma4Model& model, const std::string& recipe_name, const std::string& observer);

}  // namespace gq
