// The Gemma4Config of a GGUF our exporter wrote, rebuilt from its gemma4.* keys and tensors
// (export/gemma4_gguf_meta.cpp writes them): the keys hold the shapes, the layer pattern, KV sharing,
// the MoE sizes, the RoPE bases and the softcap; the tensors add what no key says (vocab sizes from
// the embedding tables, K=V from the missing attn_v, the partial rotary factor from rope_freqs).
// Only files llama.cpp can run are written that way (one head dim per layer type, llama.cpp's KV
// donor rule), so the rebuilt config is the one the file was exported from, in every field the
// forward reads.
#pragma once
#include "formats/gguf.h"
#include "model/gemma4_config.h"

namespace gq::engine {

// FormatError naming the file and key or tensor when one is missing, of the wrong type, or
// inconsistent with the others (e.g. feed_forward_length not what the MLP widths imply).
Gemma4Config gemma4_config_from_gguf(const GgufFile& file);

}  // namespace gq::engine
