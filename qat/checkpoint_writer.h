// Writes a model as a Hugging Face `Gemma4ForCausalLM` checkpoint: config.json plus
// model.safetensors, or shards model-0000i-of-0000n.safetensors with model.safetensors.index.json
// above a size limit. Every file is written under a temporary name and renamed when complete.
//
// A quantized model (qat/quantize.h) can be written as the weights it computes with: each weight
// seam's quantizer output (the values dequantized on their trained grid), the "unquantized QAT
// checkpoint" that converters re-quantize (export/gemma4_gguf.h recovers the grid from it).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "qat/gemma4_model.h"

namespace gq {

// Which values a weight is written as.
enum class HfWeights {
  kLatent,     // the trainable tensors, as the model holds them
  kFakeQuant,  // every tensor as the model computes with it (qat simulated_tensors): quantized weights on
               // their grid, float tensors rounded to the recipe's float dtype; a tied head the recipe
               // quantizes unlike the embedding is written untied, as lm_head.weight
};

struct HfSaveOptions {
  DType dtype = DType::F32;                 // F32, BF16 or F16 (round to nearest even)
  HfWeights weights = HfWeights::kLatent;
  int64_t max_shard_bytes = int64_t(5) << 30;  // transformers' default is 5 GB
  // The original multimodal layout: a Gemma4ForConditionalGeneration checkpoint folder whose
  // config.json (with the text part replaced) and non-text tensors (vision / audio towers and
  // embedders) are copied through byte for byte; text weights go under "model.language_model.".
  // Empty: a text-only Gemma4ForCausalLM checkpoint.
  std::string multimodal_source;
};

// Writes the checkpoint files into folder `dir` (created if needed).
void save_hf_checkpoint(Gemma4Model& model, const std::string& dir, const HfSaveOptions& opt = {});

// `export --format hf`: the checkpoint as folder `out`, written beside it and swapped in whole
// (io/folder_swap.h), with `extra_files` (the tokenizer) copied in. `out` may be absent, empty or an
// earlier checkpoint folder (it holds config.json); FormatError refuses any other folder, which the
// swap would replace.
void export_hf_checkpoint(Gemma4Model& model, const std::string& out, const HfSaveOptions& opt,
                          const std::vector<std::string>& extra_files = {});

}  // namespace gq
