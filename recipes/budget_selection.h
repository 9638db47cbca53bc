// The choice step of the sensitivity-driven budget planner (issue 14, docs/planner.md): given, per
// module, candidate schemes with their stored bytes and predicted KL cost (the KL increase when that
// module alone takes the scheme; the additive model sums them), pick one candidate per module so the
// total bytes fit the budget with the least predicted total KL. Torch-free: the sensitivities come
// from the caller (measured on real weights, or a labelled proxy for a weightless config).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gq {

struct SchemeCandidate {
  std::string scheme;       // a built-in scheme name (quant/scheme.h), or "float" for unquantized
  int64_t bytes = 0;        // the module's stored bytes under this scheme
  double predicted_kl = 0;  // KL(float || only this module at this scheme), >= 0
};

struct PlannedModule {
  std::string name;  // the recipe target this choice is written for
  std::vector<SchemeCandidate> candidates;
};

struct BudgetSelection {
  std::vector<int> choice;  // per module, an index into its candidates
  int64_t total_bytes = 0;
  double predicted_kl = 0;  // sum of the chosen candidates' predicted_kl (the additive model)
};

// Exact minimum-KL choice under `budget_bytes` by dynamic programming over bytes quantized to
// `byte_quantum` (bytes are rounded up per candidate, so the result never exceeds the budget; with
// quantum 1 it is exactly optimal). Throws std::invalid_argument naming the smallest reachable byte
// count when even the smallest candidate of every module does not fit, and naming the module when a
// module has no candidates or a candidate has negative bytes or KL.
BudgetSelection select_schemes_for_budget(const std::vector<PlannedModule>& modules,
                                          int64_t budget_bytes, int64_t byte_quantum = 1);

}  // namespace gq
