// The budget planner's modules and bytes (issue 14, docs/planner.md), torch-free: which recipe
// targets it chooses a scheme for, what each candidate scheme costs in the bytes `plan` reports
// (recipes/memory_footprint.h), the recipe it writes, and a labelled proxy sensitivity for a config
// without weights. The sensitivities on real weights come from the CLI (cli/plan_sensitivity.h);
// the choice itself is recipes/budget_selection.h.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/dtype.h"
#include "model/gemma4_config.h"
#include "model/quant_targets.h"
#include "recipes/budget_selection.h"
#include "recipes/memory_footprint.h"

namespace gq {

// The candidate name of a module left unquantized (stored in the recipe's float dtype).
inline constexpr const char* kFloatCandidate = "float";

// The weight schemes one deployable format holds, most precise first; a plan never mixes families:
//   gguf                q8_0, q4_0, q2_0
//   compressed-tensors  int8_channel, int4_g32, int4_g128, int4_channel, int2_channel
const std::vector<std::string>& family_schemes(StorageFormat family);

struct PlanUnit {
  std::string module;  // the recipe target; for a tied model "embed_tokens" also stands for the head
  TargetKind kind = TargetKind::Linear;
  int64_t params = 0;  // of its own tensor (a tied head adds none)
  int64_t cols = 0;    // row length: what blocks and groups run along
  bool outside_budget = false;  // --text-only: the PLE table, kept out of RAM
  // The family's schemes this module can hold (its row length a multiple of the block), in
  // family_schemes order, then kFloatCandidate; bytes as memory_footprint counts them, predicted_kl
  // 0 until a sensitivity fills it.
  std::vector<SchemeCandidate> candidates;
};

struct PlanPricing {
  StorageFormat family = StorageFormat::Gguf;
  DType float_dtype = DType::F32;  // of every float tensor (the source checkpoint's)
  int64_t fixed_bytes = 0;         // counted bytes no unit holds: norms, scalars, rope, ...
  std::vector<PlanUnit> units;     // in model order
};

// Every Linear, embedding table, expert bank and an untied head (the MoE router stays float, as
// runtimes keep it), each priced under every candidate. `source` is the checkpoint's float dtype
// (run/source_dtype.h). With text_only the PLE table is outside the budget (plan's "text only").
PlanPricing price_plan_units(const Gemma4Config& cfg, StorageFormat family, DType source, bool text_only);

// Per unit, the candidate index the plan starts from: outside the budget the family's most precise
// scheme the unit holds (the PLE table is read from storage, not RAM), else -1 (to be chosen).
int fixed_choice(const PlanUnit& unit);

struct BudgetPlan {
  std::vector<int> choice;      // per unit, an index into its candidates
  int64_t counted_bytes = 0;    // fixed_bytes + the in-budget units' chosen bytes (<= the budget)
  int64_t total_bytes = 0;      // every tensor, outside-budget units too (memory_footprint's total)
  double predicted_kl = 0;      // sum of the chosen candidates' predicted_kl (the additive model)
  int64_t byte_quantum = 1;     // the DP's byte unit (recipes/budget_selection.h)
};

// FormatError (one line) when the budget is below the smallest recipe of the family (every
// in-budget unit at its smallest candidate), naming that byte count.
void require_budget(const PlanPricing& pricing, int64_t budget_bytes);

// The least predicted KL within `budget_bytes` of counted bytes. FormatError (one line) when the
// budget is below the smallest recipe of the family (require_budget).
BudgetPlan plan_for_budget(const PlanPricing& pricing, int64_t budget_bytes);

// Every unit at `scheme` where it holds it (float elsewhere): the uniform recipe's choice.
std::vector<int> uniform_choice(const PlanPricing& pricing, const std::string& scheme);
// fixed_bytes + chosen bytes over the in-budget units (all units when count_outside).
int64_t chosen_bytes(const PlanPricing& pricing, const std::vector<int>& choice, bool count_outside);
double chosen_kl(const PlanPricing& pricing, const std::vector<int>& choice);

// The recipe of a choice: one weights rule per scheme listing its modules by exact name (a float
// module is in none), unquantized_dtype the pricing's float dtype. FormatError when the choice
// quantizes nothing.
std::string plan_recipe_json(const PlanPricing& pricing, const std::vector<int>& choice, const std::string& name,
                             const std::string& description);

// The weightless proxy, labelled "proxy" wherever printed: prior(kind) x params x the scheme's
// relative RTN error (sum (w - q(w))^2 / sum w^2) on fixed pseudo-random Gaussian rows of the
// module's length. A score for ordering choices, not a KL in nats. Fills every candidate's
// predicted_kl (0 for float).
void fill_proxy_sensitivities(PlanPricing& pricing);

}  // namespace gq
