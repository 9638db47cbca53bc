// Gemma 4 checkpoint (HF safetensors folder) -> llama.cpp gemma4 GGUF, streaming: tensors are read
// from the memory-mapped checkpoint, converted and written one chunk of rows at a time, so memory
// stays bounded whatever the tensor sizes (quantization runs on all cores over row ranges).
//
// Text tensors only (vision / audio are left out: llama.cpp rejects extra tensors); the k/v
// projections that KV-shared layers carry but never use are not written (llama.cpp does not need
// them either). What the file stores is the resolved recipe (the deployment contract,
// recipes/recipe.h): block types on the quantized modules, the float dtype on every other weight;
// norms, 1-D tensors, layer_output_scale and the MoE router are F32 tensors (llama.cpp's rule)
// holding values rounded to the float dtype; rope_freqs is generated; a tied head writes no
// output.weight unless the recipe unties it (a float copy of the table when the head is ignored).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "export/deployment.h"
#include "export/gguf_types.h"
#include "model/gemma4_config.h"
#include "formats/gguf.h"
#include "quant/grid_recovery.h"
#include "recipes/recipe.h"

namespace gq {

class Checkpoint;

// A QAT run's trained per-block scales. Called for every block-typed tensor with its quant-target
// module ("layers.0.self_attn.q_proj", "layers.0.experts.gate_up_proj", "embed_tokens", "lm_head"),
// its GGUF type and its shape as rows x cols (rows = all matrices of an expert bank). Fill `scales`
// with rows * cols / block values (the codec layout: row-major, one per block of a row) and return
// true; return false to use ggml's RTN rule for that module. Codes are then clamp(round(w / fp16(s))),
// exactly what the run's fake-quant simulated.
using LearnedScales = std::function<bool(const std::string& module, GgmlType type, int64_t rows, int64_t cols,
                                         std::vector<float>& scales)>;
// Scales from a map module -> values (modules not in it use RTN).
LearnedScales learned_scales_from(std::map<std::string, std::vector<float>> scales);

struct GgufExportOptions {
  // What to quantize. A plain checkpoint takes one type for every weight (`type`, default F16) or a
  // recipe. A QAT run exports the recipe it trained (its float dtype, its learned scales); a type
  // or recipe that differs from it changes the deployed numbers (deployment.h).
  std::optional<GgmlType> type;
  std::optional<Recipe> recipe;
  bool nearest = false;               // map recipe schemes GGUF lacks to the nearest type (with a warning)
  std::optional<DType> float_dtype;   // replaces the recipe's float dtype (a change, deployment.h)
  bool allow_rounding = false;        // write changes instead of refusing them, with a warning
  RoundingEffect rounding_effect;     // optional: measures an allowed change for that warning
  LearnedScales learned_scales;       // optional: replaces a run's own learned scales
  // Blocks ggml's RTN would write that already lie on a grid of their type (a QAT checkpoint saved
  // unquantized) keep that grid's scale and levels (quant/grid_recovery.h). Never for a QAT run's
  // own export: its fake-quant model computed with RTN on its own weights.
  bool grid_recovery = true;
  std::string name;               // general.name; "" = the checkpoint folder's name
  int threads = 0;                // 0 = all cores
  // float32 rows converted per step (bounds memory; convert_bench measured 64 MiB 16% slower in wall
  // time and 10% in CPU time than 16 MiB)
  size_t chunk_bytes = size_t(16) << 20;
  std::function<void(const std::string&)> on_warning;  // default: "gemma-qat: warning: ..." on stderr
  std::function<void(size_t done, size_t total, const std::string& tensor)> on_tensor;  // optional progress
};

// One tensor of the file, in write order.
struct GgufTensorPlan {
  std::string name;            // GGUF name
  std::string source;          // checkpoint tensor name; "" for rope_freqs
  std::string module;          // quant-target module ("" for norms, scales, rope_freqs)
  std::vector<int64_t> shape;  // PyTorch order (ggml ne reversed)
  GgmlType type = GgmlType::F32;
  DType round_to = DType::F32;  // an F32 tensor of a checkpoint's floats holds them rounded to this (the float dtype)
};

// Validates the checkpoint against the config (every text tensor present, shapes as the config
// implies, nothing unknown under the text prefix) and lists the file's tensors.
std::vector<GgufTensorPlan> plan_gemma4_gguf(const Gemma4Config& cfg, const Checkpoint& ckpt, const GgufTensorTypes& types,
                                             size_t* unused_skipped = nullptr);

struct GgufExportResult {
  std::string path;
  uint64_t bytes = 0;        // file size
  uint64_t input_bytes = 0;  // checkpoint bytes read
  size_t tensors = 0, keys = 0;
  std::map<std::string, size_t> tensors_by_type;  // "Q4_0" -> count
  std::string recipe;                             // the recipe written ("" for a float type)
  bool from_run = false;                          // a QAT run written with the schemes it trained
  // What the file deploys, for checking it against the fake-quant model (cli validation): the
  // resolved recipe it holds and the checkpoint folder the weights came from.
  ResolvedRecipe deployed;
  std::string checkpoint;
  size_t learned_modules = 0;                     // block tensors written with learned scales
  size_t learned_available = 0;                   // modules the run learned scales for
  size_t unused_skipped = 0;                      // k/v of KV-shared layers not written
  std::map<std::string, quant::GridRecoveryCounts> grid_recovery;  // "Q4_0" -> blocks written with RTN scales
  std::string vocab_source;                       // tokenizer.json path or "synthesized"
  std::vector<std::string> warnings;
  double seconds = 0;
};

// `model_dir`: a run folder, or a checkpoint folder with config.json + safetensors (single or
// sharded), optionally tokenizer.json, tokenizer_config.json / chat_template.jinja and
// generation_config.json. Writes `out_path` atomically. FormatError names the file, tensor or key
// at fault, or the module a refused change would alter.
GgufExportResult export_gemma4_gguf(const std::string& model_dir, const std::string& out_path, const GgufExportOptions& opt);

}  // namespace gq
