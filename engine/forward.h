// The full-sequence forward of the Gemma 4 text decoder in float32, following Hugging Face's
// Gemma4ForCausalLM (eager attention) step for step; shared/tools/llamacpp-check/hf_gemma4_ref.py is
// the same maths in numpy. Every call runs the whole sequence from position 0; engine/decode.h
// continues a sequence token by token with a KV cache, bit for bit the same logits.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/weights.h"

namespace gq::engine {

// Logits [T, vocab_size] row-major, after the final softcap, for token ids at positions 0..T-1.
// FormatError for an id outside the vocabulary.
std::vector<float> logits(const ModelWeights& w, const std::vector<int32_t>& ids);

}  // namespace gq::engine
