#include "recipes/budget_selection.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace gq {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

void validate(const std::vector<PlannedModule>& modules, int64_t byte_quantum) {
  if (byte_quantum < 1) throw std::invalid_argument("budget planner: byte quantum must be >= 1");
  for (const auto& m : modules) {
    if (m.candidates.empty())
      throw std::invalid_argument("budget planner: module " + m.name + " has no candidate schemes");
    for (const auto& c : m.candidates)
      if (c.bytes < 0 || !(c.predicted_kl >= 0))
        throw std::invalid_argument("budget planner: module " + m.name + " scheme " + c.scheme +
                                    " has negative bytes or KL");
  }
}

}  // namespace

BudgetSelection select_schemes_for_budget(const std::vector<PlannedModule>& modules,
                                          int64_t budget_bytes, int64_t byte_quantum) {
  validate(modules, byte_quantum);
  int64_t smallest = 0;
  for (const auto& m : modules) {
    int64_t b = std::numeric_limits<int64_t>::max();
    for (const auto& c : m.candidates) b = std::min(b, c.bytes);
    smallest += b;
  }
  if (smallest > budget_bytes)
    throw std::invalid_argument("budget planner: budget " + std::to_string(budget_bytes) +
                                " bytes is below the smallest possible " + std::to_string(smallest) +
                                " bytes (every module at its smallest scheme)");

  // best[m][u]: least KL of modules [0, m) using at most u quanta; from[m][u] the choice for m-1.
  const int64_t units = budget_bytes / byte_quantum;
  // The back-pointer table holds modules x (units + 1) ints: cap it at 50M cells (200 MB).
  const int64_t cells = static_cast<int64_t>(modules.size()) * (units + 1);
  if (units > 50'000'000 || cells > 50'000'000)
    throw std::invalid_argument("budget planner: " + std::to_string(modules.size()) + " modules x " +
                                std::to_string(units + 1) + " byte quanta exceeds 50M table cells; use a larger byte quantum");
  const double inf = std::numeric_limits<double>::infinity();
  const size_t width = static_cast<size_t>(units) + 1;
  std::vector<double> best(width, 0.0), next(width);
  std::vector<std::vector<int>> from(modules.size(), std::vector<int>(width, -1));
  for (size_t m = 0; m < modules.size(); ++m) {
    std::fill(next.begin(), next.end(), inf);
    for (size_t ci = 0; ci < modules[m].candidates.size(); ++ci) {
      const auto& c = modules[m].candidates[ci];
      const int64_t cu = ceil_div(c.bytes, byte_quantum);
      for (int64_t u = cu; u <= units; ++u) {
        const double kl = best[u - cu] + c.predicted_kl;
        if (kl < next[u]) { next[u] = kl; from[m][u] = static_cast<int>(ci); }
      }
    }
    best.swap(next);
  }
  // Rounding bytes up per candidate can make a fit on exact bytes unreachable in quanta.
  if (best[units] == inf)
    throw std::invalid_argument("budget planner: no choice fits " + std::to_string(budget_bytes) +
                                " bytes at a byte quantum of " + std::to_string(byte_quantum) +
                                "; use a smaller quantum");

  BudgetSelection out;
  out.choice.assign(modules.size(), -1);
  int64_t u = units;
  for (size_t m = modules.size(); m-- > 0;) {
    const int ci = from[m][u];
    out.choice[m] = ci;
    const auto& c = modules[m].candidates[ci];
    out.total_bytes += c.bytes;
    out.predicted_kl += c.predicted_kl;
    u -= ceil_div(c.bytes, byte_quantum);
  }
  return out;
}

}  // namespace gq
