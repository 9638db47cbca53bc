// Hugging Face Gemma 4 text tensor names (without the checkpoint prefix) -> llama.cpp's gemma4 GGUF
// names (gemma4-architecture.md §5.3). No tensor is transposed: a PyTorch shape reversed is the
// ggml ne.
#pragma once
#include <string>

namespace gq {

// "layers.3.self_attn.q_proj.weight" -> "blk.3.attn_q.weight"; "" for a name Gemma 4 does not have.
std::string gemma4_gguf_name(const std::string& hf_name);

}  // namespace gq
