// The tensors a Gemma 4 text checkpoint holds, derived from the config alone: names (without the
// checkpoint prefix), shapes and the component each belongs to. The loader validates checkpoints
// against it; `info --meta` and the memory planner count parameters from it without any weights.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/gemma4_config.h"

namespace gq {

// PerLayerEmbedding is the PLE table alone (what runtimes keep out of RAM); the projections and
// gates that mix it into the residual stream are PerLayerProjection.
enum class Component { Embedding, PerLayerEmbedding, PerLayerProjection, Attention, Mlp, Experts, Router, Norm };
const char* component_name(Component c);

struct TensorSpec {
  std::string name;              // e.g. "layers.3.self_attn.q_proj.weight"
  std::vector<int64_t> shape;    // PyTorch order ([out, in] for Linear)
  Component component;
  int layer = -1;                // -1 for global tensors
  // Present in official checkpoints but never read: the k/v projections of KV-shared layers.
  bool unused = false;

  int64_t numel() const;
};

// Every tensor HF's Gemma4 text model owns, in a stable order, plus (unused = true) the k/v tensors
// of KV-shared layers that official checkpoints still carry. The tied head adds nothing;
// an untied `lm_head.weight` is listed when tie_word_embeddings is false.
std::vector<TensorSpec> gemma4_tensor_specs(const Gemma4Config& cfg);

}  // namespace gq
