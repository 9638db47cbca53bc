// The files the torch-free reference engine runs as they are (a .gguf or a native .gqn), shared by
// logits, generate and run.
#pragma once
#include <string>

#include "engine/weights.h"

namespace gq::cli {

// A regular file named .gguf or .gqn.
bool is_engine_file(const std::string& path);

// The file's weights on an engine with `threads` threads (0: all cores). A native file in fast form
// keeps its channel-wise Linears packed for the integer path (exact sums; no SIMD yet, so generate
// and run read native files in exact form and only `logits --fast` asks for it).
engine::ModelWeights load_engine_file(const std::string& path, engine::WeightForm form, int threads);

}  // namespace gq::cli
