// Incremental decoding on the reference engine: a Session keeps each layer's K/V between calls, so
// a new token costs one row through the decoder instead of the whole sequence again. Its logits
// equal engine::logits' at the same positions to float32 noise (tests/engine/decode_test.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/decoder.h"
#include "engine/weights.h"

namespace gq::engine {

class Session {
 public:
  // `w` must outlive the session.
  explicit Session(const ModelWeights& w) : w_(w) {}
  explicit Session(ModelWeights&&) = delete;  // a temporary would be gone before the first step

  // Runs `ids` after the tokens seen so far (the first call: from position 0); returns the logits
  // [vocab_size] of the last of them. FormatError for an empty `ids` or an id outside the
  // vocabulary; after any error the session is not to be used again.
  std::vector<float> prefill(const std::vector<int32_t>& ids);
  // One token: prefill({id}).
  std::vector<float> step(int32_t id) { return prefill({id}); }

  int64_t position() const { return state_.position; }  // tokens seen so far
  // Rows held in layer il's cache (0 for a KV-shared layer); a sliding layer holds at most its window.
  int64_t cached_rows(int64_t il) const;

 private:
  const ModelWeights& w_;
  DecoderState state_;
};

// Up to n new tokens after `prompt`, each the argmax of the last logits (ties: the lowest id) with
// the `banned` ids never chosen (HF's min_new_tokens bans EOS so); with stop_at_eos, ends after
// emitting the config's eos_token_id. FormatError for an empty prompt.
std::vector<int32_t> greedy(const ModelWeights& w, const std::vector<int32_t>& prompt, int n, bool stop_at_eos,
                            const std::vector<int32_t>& banned = {});
// The same loop, streamed: calls on_token with each new token as soon as it is chosen (the first
// right after the prompt's prefill) and ends after n tokens or when on_token returns false.
void greedy_each(const ModelWeights& w, const std::vector<int32_t>& prompt, int n, const std::vector<int32_t>& banned,
                 const std::function<bool(int32_t)>& on_token);

}  // namespace gq::engine
