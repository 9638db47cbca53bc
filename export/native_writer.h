// Gemma 4 checkpoint or QAT run -> one native file (formats/native_format.h, docs/native-format.md):
// the deployment contract (recipes/recipe.h) as the engine's kernels take it. Any recipe: ggml
// blocks (Q4_0 / Q8_0 / Q2_0) stored as ggml lays them out, channel / group levels packed per row
// with their scales (and zero points) in the scheme's scale dtype, every other tensor in the float
// dtype. A QAT run keeps the integers it trained with (its learned scales, rounded to the scale
// dtype); a plain checkpoint gets the recipe's RTN rule. The integer codes and scales come from the
// same codec calls the GGUF and compressed-tensors writers make, so the file holds what the
// fake-quant model computes with, bit for bit. Static input / output activation scales (the run's,
// or the calibration's) and the KV-cache scheme are recorded; the config (untied when the file holds
// its own head) and the checkpoint's tokenizer.json / tokenizer.model bytes are embedded; the
// per-layer embedding table goes to its own section.
//
// Streaming, one chunk of rows at a time from the memory-mapped checkpoint; written under a
// temporary name and renamed when complete. Another recipe on a run, --dtype and --scale-dtype are
// changes refused naming the module unless allowed (export/deployment.h), as the other exporters.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "export/deployment.h"
#include "io/dtype.h"
#include "recipes/recipe.h"

namespace gq {

struct NativeExportOptions {
  std::optional<Recipe> recipe;      // required for a plain checkpoint; on a run, a change
  std::optional<DType> scale_dtype;  // every channel / group scale in this dtype (a change)
  std::optional<DType> float_dtype;  // every float tensor in this dtype (a change)
  bool allow_rounding = false;
  RoundingEffect rounding_effect;
  std::string calibration;           // static activation scales; "" = the checkpoint folder's
  int threads = 0;                   // 0 = all cores
  size_t chunk_bytes = size_t(64) << 20;
  std::function<void(const std::string&)> on_warning;  // default: "gemma-qat: warning: ..." on stderr
  std::function<void(size_t done, size_t total, const std::string& tensor)> on_tensor;
};

struct NativeExportResult {
  std::string path, checkpoint;
  bool from_run = false;
  ResolvedRecipe deployed;  // what the file stores
  uint64_t bytes = 0;       // file size
  uint64_t ple_bytes = 0;   // the per-layer embedding section
  size_t tensors = 0, quantized = 0, learned_modules = 0, activation_modules = 0;
  std::map<std::string, size_t> tensors_by_scheme;  // "int4_channel@bf16", "bf16", ...
  std::string tokenizer;                            // what was embedded ("tokenizer.json", "none")
  std::vector<std::string> warnings;
  double seconds = 0;
};

// FormatError naming the file, tensor, module or key at fault; nothing is left at `out_path` then.
NativeExportResult export_native(const std::string& model_or_run, const std::string& out_path,
                                 const NativeExportOptions& opt = {});

}  // namespace gq
