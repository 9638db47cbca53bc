// Loads a Hugging Face Gemma 4 checkpoint folder (config.json + safetensors, single or sharded)
// into a Gemma4Model, by name, validating every tensor against the config.
#pragma once
#include <string>
#include <vector>

#include "qat/gemma4_model.h"

namespace gq {

class Checkpoint;

struct LoadReport {
  std::string prefix;                  // "model." or "model.language_model."
  size_t loaded = 0;
  std::vector<std::string> skipped;    // present but unused (k/v of KV-shared layers)
  size_t ignored_other = 0;            // tensors outside the text model (vision, audio)
};

// Copies every text tensor of `ckpt` into `model` (converting F16/BF16/F64 to float32). Throws
// FormatError naming the checkpoint and tensor for a missing tensor, a shape mismatch or a tensor
// under the text prefix that Gemma 4 does not have.
LoadReport load_weights(Gemma4Model& model, const Checkpoint& ckpt);

// config.json + weights from a folder: a Hugging Face checkpoint, or a training run folder (whose
// latest complete checkpoint lives in RUN/checkpoint/, run/run_folder.h).
Gemma4Model load_model(const std::string& dir, LoadReport* report = nullptr);

}  // namespace gq
