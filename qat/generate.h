// Greedy decoding through the KV cache: one prefill forward, then one token per step.
#pragma once
#include <cstdint>
#include <vector>

#include "qat/gemma4_model.h"

namespace gq {

struct GreedyOptions {
  std::vector<int64_t> banned;  // never chosen (HF's min_new_tokens bans EOS this way)
  bool stop_at_eos = false;     // end after emitting the config's eos_token_id
};

// Returns up to n new token ids: the argmax of each step's last logits (ties go to the lowest id).
std::vector<int64_t> greedy_generate(Gemma4Model& model, const std::vector<int64_t>& prompt, int n,
                                     const GreedyOptions& opt = {});

}  // namespace gq
