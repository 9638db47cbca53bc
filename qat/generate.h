// Greedy decoding through the KV cache: one prefill forward, then one token per step.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "qat/gemma4_model.h"

namespace gq {

struct GreedyOptions {
  std::vector<int64_t> banned;  // never chosen (HF's min_new_tokens bans EOS this way)
  bool stop_at_eos = false;     // end after emitting the config's eos_token_id
  // Called with each new id as soon as it is chosen (streaming); returning false ends the loop
  // after that id.
  std::function<bool(int64_t)> on_token;
};

// Returns up to n new token ids: the argmax of each step's last logits (ties go to the lowest id).
std::vector<int64_t> greedy_generate(Gemma4Model& model, const std::vector<int64_t>& prompt, int n,
                                     const GreedyOptions& opt = {});

}  // namespace gq
