// The files the torch-free reference engine runs as they are (a .gguf or a native .gqn), shared by
// logits, generate and run.
#pragma once
#include <string>

#include "engine/weights.h"

namespace gq::cli {

// A regular file named .gguf or .gqn.
bool is_engine_file(const std::string& path);

// The file's weights on an engine with `threads` threads (0: all cores). A native file in fast form
// keeps its channel-wise Linears packed for the integer path (exact sums, but no SIMD yet).
engine::ModelWeights load_engine_file(const std::string& path, engine::WeightForm form, int threads);

// The form generate and run decode in: fast unless --exact, but exact for a native file, whose
// integer path is ~15-40x slower than exact mode's float Linear until it has SIMD (`logits --fast`
// still reaches it).
engine::WeightForm decoding_form(const std::string& path, bool exact);

}  // namespace gq::cli
