// Gemma 4 checkpoint or QAT run -> compressed-tensors folder that vLLM loads (Gemma4ForCausalLM,
// text only): config.json with `quantization_config`, safetensors (sharded above a size limit, with
// an index), tokenizer / generation files copied through.
//
// Per quantized Linear P ("model.layers.0.self_attn.q_proj"):
//   pack-quantized (weight-only int4 / int8, group or channel):
//     P.weight_packed      int32 [out, in*bits/32]  levels + 2^(bits-1), LSB first
//     P.weight_scale       scale dtype [out, in/group] ([out, 1] channel-wise)
//     P.weight_shape       int64 [2] = [out, in]
//     P.weight_zero_point  int32 [ceil(out*bits/32), in/group]  (asymmetric; packed along dim 0)
//   int-quantized (W8A8: int8 channel-wise weights, static int8_sym inputs):
//     P.weight int8 [out, in], P.weight_scale [out, 1], P.input_scale float32 [1]
// MoE banks are split per expert as vLLM's Gemma 4 loader expects: "model.layers.N.experts.E.
// {gate,up,down}_proj.*". KV cache: "model.layers.N.self_attn.{k,v}_scale" float32 [1] (a KV-shared
// layer gets its donor's). Everything else: the recipe's unquantized dtype (the model dtype).
//
// What the file stores is the resolved recipe (the deployment contract, recipes/recipe.h): float
// tensors in its float dtype ("auto": the checkpoint's; a QAT run's is float32), each scale in its
// scheme's scale dtype (the float dtype unless the scheme names one). A plain checkpoint is
// quantized with the recipe's RTN rule. A QAT run (recipe.json in the checkpoint) keeps the
// integers it trained with: its learned scales / zero points (quant_params.safetensors), or RTN.
// Another recipe on a run, --dtype or --scale-dtype store other numbers: refused naming the module,
// unless allowed (export/deployment.h). Input and KV scales are stored in float32, the dtype of
// vLLM's parameters.
//
// Streaming: one tensor (one chunk of rows) at a time from the memory-mapped checkpoint. The folder
// is written beside `out` and swapped in when complete (io/folder_swap.h); on any error nothing is
// left behind and an earlier export in `out` stays as it was.
//
// The steps, one file each: compressed_tensors_inputs (checkpoint, recipe, learned and static
// scales), _config (quantization_config, config.json), _items (what the file holds), _precheck
// (refusals before writing), _writer + _safetensors (streaming the tensors into shards).
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

struct CompressedTensorsExportOptions {
  // Required for a plain checkpoint. For a run it replaces the run's recipe.json (a change,
  // deployment.h): its trained weights are re-quantized with RTN, the learned scales dropped.
  std::optional<Recipe> recipe;
  std::optional<DType> scale_dtype;  // BF16, F16 or F32 for every scale instead of the schemes' (a change)
  std::optional<DType> float_dtype;  // instead of the recipe's float dtype (a change)
  bool allow_rounding = false;       // write changes instead of refusing them, with a warning
  RoundingEffect rounding_effect;    // optional: measures an allowed change for that warning
  // calibration.json for static input scales and KV scales; "" = the checkpoint folder's, if any.
  std::string calibration;
  uint64_t max_shard_bytes = 5000ull * 1000 * 1000;
  int threads = 0;                        // 0 = all cores
  size_t chunk_bytes = size_t(64) << 20;  // float32 rows converted per step (bounds memory)
  std::function<void(const std::string&)> on_warning;  // default: "gemma-qat: warning: ..." on stderr
  std::function<void(size_t done, size_t total, const std::string& tensor)> on_tensor;  // optional progress
};

struct CompressedTensorsExportResult {
  std::string path;
  std::string format;                                // quantization_config.format
  std::string checkpoint;                            // the folder the weights came from
  bool from_run = false;                             // QAT run: trained integers kept
  DType scale_dtype = DType::BF16;                   // of most quantized modules (the model dtype if none)
  DType model_dtype = DType::BF16;                   // the float tensors
  uint64_t bytes = 0, input_bytes = 0;               // tensor data written / read
  size_t tensors = 0, shards = 0;
  size_t quantized_modules = 0;                      // Linears, embeddings, head (experts counted per expert)
  size_t learned_modules = 0;                        // quant-target modules written with learned scales
  size_t unused_skipped = 0;                         // k/v of KV-shared layers not written
  size_t other_towers_skipped = 0;                   // vision / audio tensors not written
  std::map<std::string, size_t> modules_by_scheme;   // "int4_g32", "int4_channel+a8o8" -> modules
  std::vector<std::string> warnings;
  double seconds = 0;
};

// `model_or_run`: a checkpoint folder (config.json + safetensors) or a run folder (RUN/checkpoint/).
// Throws FormatError naming the file, tensor, key or module at fault.
CompressedTensorsExportResult export_compressed_tensors(const std::string& model_or_run, const std::string& out_dir,
                                                        const CompressedTensorsExportOptions& opt = {});

}  // namespace gq
