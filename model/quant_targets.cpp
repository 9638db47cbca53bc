#include "model/quant_targets.h"

#include "model/gemma4_tensors.h"

namespace gq {

const char* target_kind_name(TargetKind k) {
  switch (k) {
    case TargetKind::Linear: return "Linear";
    case TargetKind::Embedding: return "Embedding";
    case TargetKind::Head: return "Head";
    case TargetKind::Experts: return "Experts";
    case TargetKind::Router: return "Router";
  }
  return "?";
}

std::vector<QuantTarget> gemma4_quant_targets(const Gemma4Config& cfg) {
  std::vector<QuantTarget> out;
  const std::string weight = ".weight";
  for (const TensorSpec& s : gemma4_tensor_specs(cfg)) {
    if (s.unused || s.shape.size() < 2) continue;
    if (s.name == "lm_head.weight") continue;  // listed once below
    const bool ends_weight = s.name.size() > weight.size() && s.name.compare(s.name.size() - weight.size(), weight.size(), weight) == 0;
    const std::string module = ends_weight ? s.name.substr(0, s.name.size() - weight.size()) : s.name;
    if (s.shape.size() == 3) {
      out.push_back({module, TargetKind::Experts, s.shape[1], s.shape[2], s.shape[0], s.name});
    } else if (module == "embed_tokens" || module == "embed_tokens_per_layer") {
      out.push_back({module, TargetKind::Embedding, s.shape[0], s.shape[1], 1, s.name});
    } else if (s.component == Component::Router) {
      out.push_back({module, TargetKind::Router, s.shape[0], s.shape[1], 1, s.name});
    } else {
      out.push_back({module, TargetKind::Linear, s.shape[0], s.shape[1], 1, s.name});
    }
  }
  out.push_back({"lm_head", TargetKind::Head, cfg.vocab_size, cfg.hidden_size, 1,
                 cfg.tie_word_embeddings ? "" : "lm_head.weight"});
  return out;
}

}  // namespace gq
