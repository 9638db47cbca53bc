// Hugging Face Gemma 4 text tensor names -> the names our GGUF exporter (and llama.cpp's converter)
// give them, gemma4-architecture.md §5.3. The exporter's table lives in export/, above this layer,
// so the engine keeps its own copy; tests/engine checks it reads the exporter's files.
#pragma once
#include <string>

namespace gq::engine {

// "layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; "" for a name Gemma 4 does not have.
std::string gguf_tensor_name(const std::string& hf_name);

}  // namespace gq::engine
