// The gemma4 architecture keys of a GGUF (gemma4-architecture.md §5.2) with llama.cpp's exact types,
// the generated rope_freqs tensor, and the checks that a config is one llama.cpp can run as HF does.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "model/gemma4_config.h"
#include "formats/gguf.h"

namespace gq {

using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;

// Throws FormatError (naming the config file) when llama.cpp's gemma4 graph would compute something
// else than HF: a KV-sharing layout it maps to other donor layers, head dims that differ between
// layers of one type, proportional RoPE on sliding layers, a PLE table whose vocabulary differs.
void check_llama_cpp_gemma4(const Gemma4Config& cfg);

// general.* and gemma4.* keys. `file_type` is llama.cpp's LLAMA_FTYPE (0 F32, 1 F16, 2 Q4_0,
// 7 Q8_0, 32 BF16, 41 Q2_0). Sampling defaults are written when `generation_config` (a path, may
// be "") has them.
GgufMetadata gemma4_metadata(const Gemma4Config& cfg, const std::string& name, uint32_t file_type,
                             const std::string& generation_config);

// rope_freqs.weight: llama.cpp divides each NEOX frequency by it; 1e30 switches a pair off, which is
// how proportional RoPE (only the first partial_rotary_factor of the pairs rotate) is expressed.
std::vector<float> gemma4_rope_freqs(const Gemma4Config& cfg);

// LLAMA_FTYPE of a file whose main weight type is `t` ("mostly t").
uint32_t llama_file_type(GgmlType t);

}  // namespace gq
