#include "recipes/budget_plan.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/error.h"
#include "quant/weight.h"
#include "recipes/recipe.h"

namespace gq {
namespace {

// A unit's bytes in a footprint: its tensor, and for a tied table the head's copy (compressed-tensors
// writes one for a quantized table) whose scheme the table decides.
int64_t unit_bytes(const MemoryFootprint& fp, const PlanUnit& u, bool tied) {
  auto get = [&](const std::string& m) {
    auto it = fp.module_bytes.find(m);
    return it == fp.module_bytes.end() ? int64_t(0) : it->second;
  };
  return get(u.module) + (tied && u.module == "embed_tokens" ? get("lm_head") : 0);
}

bool holds(const PlanUnit& u, const quant::WeightScheme& s) {
  const int64_t block = s.block_size(u.cols);
  return block > 0 && u.cols % block == 0;
}

std::string lower_dtype(DType t) {
  return t == DType::BF16 ? "bf16" : t == DType::F16 ? "f16" : "f32";
}

Recipe uniform_recipe(const std::vector<std::string>& modules, const std::string& scheme,
                      DType float_dtype) {
  Recipe r;
  r.source = "plan";
  r.name = scheme;
  if (!modules.empty()) r.weights.push_back({modules, scheme});
  r.unquantized_dtype = lower_dtype(float_dtype);
  return r;
}

}  // namespace

const std::vector<std::string>& family_schemes(StorageFormat family) {
  static const std::vector<std::string> gguf = {"q8_0", "q4_0", "q2_0"};
  static const std::vector<std::string> ct = {"int8_channel", "int4_g32", "int4_g128", "int4_channel", "int2_channel"};
  return family == StorageFormat::Gguf ? gguf : ct;
}

PlanPricing price_plan_units(const Gemma4Config& cfg, StorageFormat family, DType source, bool text_only) {
  const std::vector<QuantTarget> targets = gemma4_quant_targets(cfg);
  const bool tied = cfg.tie_word_embeddings;
  PlanPricing p;
  p.family = family;
  p.float_dtype = resolve_float_dtype("auto", source);
  for (const QuantTarget& t : targets) {
    if (t.kind == TargetKind::Router || (t.kind == TargetKind::Head && tied)) continue;
    PlanUnit u;
    u.module = t.name;
    u.kind = t.kind;
    u.params = t.rows * t.cols * t.matrices;
    u.cols = t.cols;
    u.outside_budget = text_only && t.name == "embed_tokens_per_layer";
    p.units.push_back(u);
  }

  auto footprint = [&](const std::vector<std::string>& modules, const std::string& scheme) {
    const ResolvedRecipe rr = resolve_recipe(uniform_recipe(modules, scheme, p.float_dtype), targets, source);
    return memory_footprint(cfg, rr, family, 1);
  };
  const MemoryFootprint none = footprint({}, kFloatCandidate);
  p.fixed_bytes = none.total.bytes;
  for (const PlanUnit& u : p.units) p.fixed_bytes -= unit_bytes(none, u, tied);

  for (const std::string& name : family_schemes(family)) {
    const quant::WeightScheme s = quant::parse_weight_scheme(name);
    std::vector<std::string> modules;
    for (const PlanUnit& u : p.units)
      if (holds(u, s)) modules.push_back(u.module);
    if (modules.empty()) continue;
    const MemoryFootprint fp = footprint(modules, name);
    int64_t units_total = 0;
    for (PlanUnit& u : p.units) {
      const int64_t b = unit_bytes(fp, u, tied);
      units_total += b;
      if (holds(u, s)) u.candidates.push_back({name, b, 0.0});
    }
    // The additive byte model: what no unit holds must not depend on the units' schemes.
    if (fp.total.bytes - units_total != p.fixed_bytes)
      throw std::logic_error("budget planner: bytes outside the modules change under " + name + " (" +
                             std::to_string(fp.total.bytes - units_total) + " vs " + std::to_string(p.fixed_bytes) + ")");
  }
  for (PlanUnit& u : p.units) u.candidates.push_back({kFloatCandidate, unit_bytes(none, u, tied), 0.0});
  return p;
}

int fixed_choice(const PlanUnit& unit) { return unit.outside_budget ? 0 : -1; }

int64_t chosen_bytes(const PlanPricing& p, const std::vector<int>& choice, bool count_outside) {
  int64_t b = p.fixed_bytes;
  for (size_t i = 0; i < p.units.size(); ++i)
    if (count_outside || !p.units[i].outside_budget) b += p.units[i].candidates[size_t(choice[i])].bytes;
  return b;
}

double chosen_kl(const PlanPricing& p, const std::vector<int>& choice) {
  double kl = 0;
  for (size_t i = 0; i < p.units.size(); ++i) kl += p.units[i].candidates[size_t(choice[i])].predicted_kl;
  return kl;
}

std::vector<int> uniform_choice(const PlanPricing& p, const std::string& scheme) {
  std::vector<int> choice;
  for (const PlanUnit& u : p.units) {
    int at = int(u.candidates.size()) - 1;  // float
    for (size_t c = 0; c < u.candidates.size(); ++c)
      if (u.candidates[c].scheme == scheme) at = int(c);
    choice.push_back(at);
  }
  return choice;
}

void require_budget(const PlanPricing& p, int64_t budget_bytes) {
  int64_t smallest = p.fixed_bytes;
  for (const PlanUnit& u : p.units) {
    if (u.outside_budget) continue;
    int64_t least = u.candidates[0].bytes;
    for (const SchemeCandidate& c : u.candidates) least = std::min(least, c.bytes);
    smallest += least;
  }
  if (budget_bytes < smallest)
    throw FormatError("--budget " + std::to_string(budget_bytes) + " bytes is below the smallest " +
                      storage_format_name(p.family) + " recipe of this model: " + std::to_string(smallest) +
                      " bytes (every module at its smallest scheme, " + std::to_string(p.fixed_bytes) +
                      " bytes of float tensors besides)");
}

BudgetPlan plan_for_budget(const PlanPricing& p, int64_t budget_bytes) {
  require_budget(p, budget_bytes);
  // The DP runs over each module's bytes above its smallest candidate: the budget's smallest recipe
  // costs 0 quanta, so rounding up per candidate never loses a feasible budget.
  std::vector<PlannedModule> modules;
  std::vector<size_t> index;  // modules[k] is units[index[k]]
  BudgetPlan out;
  out.choice.assign(p.units.size(), -1);
  int64_t room = budget_bytes - p.fixed_bytes;
  for (size_t i = 0; i < p.units.size(); ++i) {
    const PlanUnit& u = p.units[i];
    if (u.outside_budget) {
      out.choice[i] = fixed_choice(u);
      continue;
    }
    PlannedModule m{u.module, u.candidates};
    int64_t least = m.candidates[0].bytes;
    for (const SchemeCandidate& c : m.candidates) least = std::min(least, c.bytes);
    for (SchemeCandidate& c : m.candidates) c.bytes -= least;
    room -= least;
    modules.push_back(std::move(m));
    index.push_back(i);
  }
  // The DP table holds modules x (room / quantum + 1) cells: keep it near 20M (80 MB of back-pointers),
  // which costs at most one quantum per module of the budget.
  const int64_t cells = 20'000'000, n = std::max<int64_t>(1, int64_t(modules.size()));
  out.byte_quantum = std::max<int64_t>(1, (room / (cells / n)) + 1);
  const BudgetSelection sel = select_schemes_for_budget(modules, room, out.byte_quantum);
  for (size_t k = 0; k < index.size(); ++k) out.choice[index[k]] = sel.choice[k];
  out.counted_bytes = chosen_bytes(p, out.choice, false);
  out.total_bytes = chosen_bytes(p, out.choice, true);
  out.predicted_kl = chosen_kl(p, out.choice);
  return out;
}

std::string plan_recipe_json(const PlanPricing& p, const std::vector<int>& choice, const std::string& name,
                             const std::string& description) {
  std::map<std::string, std::vector<std::string>> by_scheme;
  for (size_t i = 0; i < p.units.size(); ++i) {
    const std::string& s = p.units[i].candidates[size_t(choice[i])].scheme;
    if (s != kFloatCandidate) by_scheme[s].push_back(p.units[i].module);
  }
  if (by_scheme.empty())
    throw FormatError("the budget holds the whole model unquantized: there is nothing to plan (a recipe quantizes something)");
  nlohmann::json weights = nlohmann::json::array();
  for (const std::string& s : family_schemes(p.family))
    if (by_scheme.count(s)) weights.push_back({{"targets", by_scheme[s]}, {"scheme", s}});
  const nlohmann::json j = {{"name", name},
                            {"description", description},
                            {"weights", weights},
                            {"unquantized_dtype", lower_dtype(p.float_dtype)}};
  return j.dump(2) + "\n";
}

void fill_proxy_sensitivities(PlanPricing& p) {
  // Relative RTN error of a scheme on rows of `cols` standard Gaussian values (64K values in all,
  // a fixed seed: the same score on every run).
  std::map<std::pair<std::string, int64_t>, double> cache;
  auto relative_error = [&](const std::string& scheme, int64_t cols) {
    auto key = std::make_pair(scheme, cols);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    const int64_t rows = std::max<int64_t>(1, 65536 / cols);
    std::mt19937 gen(1234);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> w(size_t(rows * cols)), q(w.size());
    for (float& v : w) v = normal(gen);
    quant::fake_quant_weight(quant::parse_weight_scheme(scheme), w.data(), q.data(), rows, cols);
    double err = 0, energy = 0;
    for (size_t i = 0; i < w.size(); ++i) err += double(w[i] - q[i]) * (w[i] - q[i]), energy += double(w[i]) * w[i];
    return cache[key] = err / energy;
  };
  // Priors per kind: the token table also feeds a tied head (its errors reach the logits directly);
  // a PLE row is one of many per-layer inputs a token adds.
  auto prior = [](const PlanUnit& u) {
    if (u.module == "embed_tokens_per_layer") return 0.25;
    if (u.kind == TargetKind::Embedding || u.kind == TargetKind::Head) return 2.0;
    return 1.0;
  };
  for (PlanUnit& u : p.units)
    for (SchemeCandidate& c : u.candidates)
      c.predicted_kl = c.scheme == kFloatCandidate ? 0.0 : prior(u) * double(u.params) * relative_error(c.scheme, u.cols);
}

}  // namespace gq
