// What a recipe can target in a Gemma 4 model: every Linear, the embedding tables, the output head
// and the MoE expert banks, by module name (the checkpoint tensor name without ".weight").
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/gemma4_config.h"

namespace gq {

// Router is the MoE gate (router.proj): runtimes keep it in float (llama.cpp forces F32), so the
// "Linear" keyword does not include it.
enum class TargetKind { Linear, Embedding, Head, Experts, Router };
const char* target_kind_name(TargetKind k);  // "Linear", "Embedding", "Head", "Experts", "Router"

struct QuantTarget {
  std::string name;      // "layers.0.self_attn.q_proj", "embed_tokens", "lm_head", "layers.0.experts.down_proj"
  TargetKind kind;
  int64_t rows = 0;      // output channels (vocabulary rows for tables)
  int64_t cols = 0;      // input dim: the axis blocks and groups run along
  int64_t matrices = 1;  // experts per bank; 1 otherwise
  std::string tensor;    // checkpoint tensor (without prefix); "" for a tied lm_head
};

// In model order. lm_head is always listed (tied or not); for a tied model it reads embed_tokens.
std::vector<QuantTarget> gemma4_quant_targets(const Gemma4Config& cfg);

}  // namespace gq
