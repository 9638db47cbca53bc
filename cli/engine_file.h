// The files the torch-free reference engine runs as they are (a .gguf or a native .gqn), shared by
// logits, generate and run.
#pragma once
#include <string>

#include "engine/weights.h"

namespace gq::cli {

// A regular file named .gguf or .gqn.
bool is_engine_file(const std::string& path);

// The file's weights on an engine with `threads` threads (0: all cores). A native file is read as
// its simulated floats (exact mode) whatever `form` asks: its integer kernels are not written yet.
engine::ModelWeights load_engine_file(const std::string& path, engine::WeightForm form, int threads);

}  // namespace gq::cli
