// The Gemma 4 text decoder run on a chunk of tokens that continues what came before: the full
// forward is one chunk from position 0, incremental decode a prefill chunk and then one-token
// chunks, so both compute with the same code and agree to float32 noise.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/kv_cache.h"
#include "engine/ops.h"
#include "engine/weights.h"

namespace gq::engine {

// What the chunks so far leave to the next one: the position of its first token and each layer's
// K/V (empty for KV-shared layers, which read their donor's).
struct DecoderState {
  int64_t position = 0;
  std::vector<LayerKV> kv;
};

enum class LogitRows { All, Last };

// Logits [T, vocab_size] (or [1, vocab_size] for LogitRows::Last), after the final softcap, for
// `ids` at positions state.position.. ; advances `state` past them. FormatError for an id outside
// the vocabulary (naming its position), and for an empty chunk.
Matrix decode_chunk(const ModelWeights& w, const std::vector<int32_t>& ids, DecoderState& state, LogitRows rows);

}  // namespace gq::engine
