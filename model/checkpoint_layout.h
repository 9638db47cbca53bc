// How a Gemma 4 checkpoint names its text tensors, and the checks every reader of one shares (the
// LibTorch loader, the GGUF and the compressed-tensors exporters): the text prefix, the tensors that
// may sit beside the text model (vision / audio towers), one error per missing, misshapen or unknown
// tensor, and row ranges of a stored tensor.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "formats/safetensors.h"
#include "model/gemma4_config.h"
#include "model/gemma4_tensors.h"

namespace gq {

// Gemma4ForCausalLM keeps the text weights under "model.", Gemma4ForConditionalGeneration under
// "model.language_model." (beside its towers). lm_head.weight, when untied, has no prefix in either.
inline constexpr char kTextPrefix[] = "model.";
inline constexpr char kMultimodalTextPrefix[] = "model.language_model.";

// The text weights' prefix: the config's, unless the checkpoint plainly uses the other layout.
std::string detect_prefix(const Gemma4Config& cfg, const Checkpoint& ckpt);

// The checkpoint name of the spec tensor `spec_name` ("layers.0.mlp.up_proj.weight") under `prefix`.
std::string stored_name(const std::string& prefix, const std::string& spec_name);

// Tensors under "model." that are not the text model's: the multimodal towers and embedders, and the
// nested text model of the multimodal layout.
bool is_other_tower(const std::string& name);

// The stored tensor of `spec` (named `stored`), or nullptr where a checkpoint may leave it out (the
// unused k/v of KV-shared layers; layer_scalar, which is 1 when absent). FormatError naming the
// checkpoint or file and the tensor when it is missing or its shape is not the one the config implies.
const TensorView* find_spec_tensor(const Checkpoint& ckpt, const TensorSpec& spec, const std::string& stored);

// Every text tensor the config implies is in the checkpoint (or may be left out) with the config's
// shape and a float dtype: run before anything is allocated from the config, so that a config whose
// sizes disagree with the weights is an error naming the file and tensor, not a huge allocation.
// Returns the checkpoint's name prefix.
std::string check_checkpoint_matches(const Gemma4Config& cfg, const Checkpoint& ckpt);

// FormatError naming the file and tensor unless it holds floats.
void require_float_tensor(const TensorView& tv);

// Looks at every tensor of `ckpt` not in `known` (the spec tensors' stored names): FormatError if
// one sits under the text prefix without being part of the text model; returns how many others
// there are (towers, a tied head's copy).
size_t count_other_tensors(const Checkpoint& ckpt, const std::string& prefix, const std::set<std::string>& known);

// config.json's "dtype" for weights stored as `t` (F32, F16, otherwise BF16).
const char* hf_dtype_name(DType t);

// The float dtype config.json names ("dtype" / "torch_dtype": float32, float16, bfloat16; BF16 for
// anything else, the Gemma release dtype).
DType config_float_dtype(const Gemma4Config& cfg);

// The float dtype a checkpoint stores its weights in: the dtype holding most elements of its 2-D
// and 3-D text tensors (norms and scalars are often kept in float32 beside bf16 weights); the
// config's when it has none.
DType checkpoint_float_dtype(const Gemma4Config& cfg, const Checkpoint& ckpt);

// Rows [row0, row0 + n) of `v` seen as [rows, cols].
TensorView row_slice(const TensorView& v, int64_t cols, int64_t row0, int64_t n);

std::string shape_str(const std::vector<int64_t>& shape);  // "[2, 3]"
bool starts_with(const std::string& s, const std::string& prefix);
bool ends_with(const std::string& s, const std::string& suffix);

}  // namespace gq
