// The files the torch-free reference engine runs as they are (a .gguf or a native .gqn), shared by
// logits, generate and run.
#pragma once
#include <string>

#include "engine/weights.h"

namespace gq::cli {

// A regular file named .gguf or .gqn.
bool is_engine_file(const std::string& path);

// The file's weights on an engine with `threads` threads (0: all cores). A native file in fast form
// keeps its channel-wise Linears packed for the integer path (exact sums, SIMD kernels).
engine::ModelWeights load_engine_file(const std::string& path, engine::WeightForm form, int threads);

// The form generate and run decode in, GGUF and native files alike: fast unless --exact (logits
// computes exact unless --fast).
engine::WeightForm decoding_form(bool exact);

}  // namespace gq::cli
