#include "recipes/budget_plan.h"

#include <gtest/gtest.h>

#include <set>

#include "io/error.h"
#include "recipes/recipe.h"

namespace gq {
namespace {

const std::string kConfigs = std::string(GQ_TEST_DATA) + "/../../examples/configs/";

// A uniform recipe as a user writes it, by kind keywords: resolved and counted by memory_footprint
// alone, independently of the planner's per-module accounting.
MemoryFootprint uniform_footprint(const Gemma4Config& cfg, const std::string& scheme, StorageFormat family, DType source) {
  const Recipe r = Recipe::parse(R"({"name": "u", "weights": [{"targets": ["Linear", "Embedding", "Experts", "lm_head"],
                                     "scheme": ")" + scheme + R"("}]})",
                                 "uniform.json");
  return memory_footprint(cfg, resolve_recipe(r, gemma4_quant_targets(cfg), source), family, 1);
}

bool every_unit_holds(const PlanPricing& p, const std::string& scheme) {
  for (const PlanUnit& u : p.units) {
    bool found = false;
    for (const SchemeCandidate& c : u.candidates) found |= c.scheme == scheme;
    if (!found) return false;
  }
  return true;
}

TEST(BudgetPlan, UniformRecipesCostWhatMemoryFootprintCounts) {
  int checked = 0;
  for (const char* name : {"tiny-e2b.json", "e2b.json", "26b-a4b.json"}) {
    const Gemma4Config cfg = Gemma4Config::load(kConfigs + name);
    for (StorageFormat family : {StorageFormat::Gguf, StorageFormat::CompressedTensors})
      for (DType source : {DType::BF16, DType::F32}) {
        const PlanPricing p = price_plan_units(cfg, family, source, /*text_only=*/false);
        const PlanPricing text = price_plan_units(cfg, family, source, /*text_only=*/true);
        for (const std::string& s : family_schemes(family)) {
          if (!every_unit_holds(p, s)) continue;
          const MemoryFootprint fp = uniform_footprint(cfg, s, family, source);
          EXPECT_EQ(chosen_bytes(p, uniform_choice(p, s), true), fp.total.bytes) << name << " " << s;
          EXPECT_EQ(chosen_bytes(text, uniform_choice(text, s), false), fp.total.bytes - fp.ple_table_bytes)
              << name << " " << s << " text only";
          ++checked;
        }
        // Every unit unquantized: the float model's bytes.
        Recipe none;
        const MemoryFootprint fp = memory_footprint(cfg, resolve_recipe(none, gemma4_quant_targets(cfg), source), family, 1);
        EXPECT_EQ(chosen_bytes(p, uniform_choice(p, kFloatCandidate), true), fp.total.bytes) << name;
      }
  }
  EXPECT_GE(checked, 20);
}

TEST(BudgetPlan, UnitsAreTheRecipeTargetsWithATiedHeadInTheTable) {
  const Gemma4Config cfg = Gemma4Config::load(kConfigs + "e2b.json");
  const PlanPricing p = price_plan_units(cfg, StorageFormat::Gguf, DType::BF16, false);
  std::set<std::string> units;
  for (const PlanUnit& u : p.units) {
    units.insert(u.module);
    EXPECT_EQ(u.candidates.back().scheme, kFloatCandidate);
    EXPECT_FALSE(u.outside_budget);
  }
  for (const QuantTarget& t : gemma4_quant_targets(cfg))
    EXPECT_EQ(units.count(t.name), t.kind == TargetKind::Head ? 0u : 1u) << t.name;
  EXPECT_GT(p.fixed_bytes, 0);  // norms, layer scalars and rope_freqs
}

TEST(BudgetPlan, PlannedRecipeLoadsAndCostsThePlannedBytes) {
  const Gemma4Config cfg = Gemma4Config::load(kConfigs + "tiny-e2b.json");
  for (StorageFormat family : {StorageFormat::Gguf, StorageFormat::CompressedTensors}) {
    PlanPricing p = price_plan_units(cfg, family, DType::BF16, /*text_only=*/true);
    fill_proxy_sensitivities(p);
    const int64_t q4 = chosen_bytes(p, uniform_choice(p, family_schemes(family)[1]), false);
    const BudgetPlan plan = plan_for_budget(p, q4 * 6 / 10);
    EXPECT_LE(plan.counted_bytes, q4 * 6 / 10);
    const Recipe r = Recipe::parse(plan_recipe_json(p, plan.choice, "planned", "test"), "planned.json");
    const ResolvedRecipe rr = resolve_recipe(r, gemma4_quant_targets(cfg), DType::BF16);
    const MemoryFootprint fp = memory_footprint(cfg, rr, family, 1);
    EXPECT_EQ(fp.total.bytes, plan.total_bytes);
    EXPECT_EQ(fp.total.bytes - fp.ple_table_bytes, plan.counted_bytes);
    std::set<std::string> schemes;
    for (size_t i = 0; i < p.units.size(); ++i) {
      const std::string& s = p.units[i].candidates[size_t(plan.choice[i])].scheme;
      schemes.insert(s);
      auto it = rr.weights.find(p.units[i].module);
      if (s == kFloatCandidate) {
        EXPECT_EQ(it, rr.weights.end()) << p.units[i].module;
      } else {
        ASSERT_NE(it, rr.weights.end()) << p.units[i].module;
        quant::WeightScheme expected = quant::parse_weight_scheme(s);
        if (!expected.is_gguf()) expected.scale_dtype = DType::BF16;  // a channel / group scale in the float dtype
        EXPECT_EQ(it->second, expected) << p.units[i].module;
      }
    }
    EXPECT_GE(schemes.size(), 2u);  // a budget between the uniform schemes mixes them
    // Outside the text-only budget the PLE table takes the family's most precise scheme.
    EXPECT_EQ(quant::weight_scheme_name(rr.weights.at("embed_tokens_per_layer")).rfind(family_schemes(family)[0], 0), 0u);
  }
}

TEST(BudgetPlan, BudgetBelowTheSmallestRecipeNamesItsBytes) {
  const Gemma4Config cfg = Gemma4Config::load(kConfigs + "tiny-e2b.json");
  PlanPricing p = price_plan_units(cfg, StorageFormat::Gguf, DType::BF16, false);
  fill_proxy_sensitivities(p);
  const int64_t smallest = chosen_bytes(p, uniform_choice(p, "q2_0"), true);  // every tiny-e2b row holds q2_0
  EXPECT_NO_THROW(plan_for_budget(p, smallest));
  try {
    plan_for_budget(p, smallest - 1);
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(smallest) + " bytes"), std::string::npos) << e.what();
  }
}

TEST(BudgetPlan, ProxyOrdersSchemesByPrecision) {
  const Gemma4Config cfg = Gemma4Config::load(kConfigs + "e2b.json");
  for (StorageFormat family : {StorageFormat::Gguf, StorageFormat::CompressedTensors}) {
    PlanPricing p = price_plan_units(cfg, family, DType::BF16, false);
    fill_proxy_sensitivities(p);
    for (const PlanUnit& u : p.units) {
      auto kl = [&](const std::string& s) {
        for (const SchemeCandidate& c : u.candidates)
          if (c.scheme == s) return c.predicted_kl;
        return -1.0;
      };
      const std::vector<std::string>& s = family_schemes(family);
      EXPECT_EQ(kl(kFloatCandidate), 0.0);
      EXPECT_GT(kl(s[0]), 0.0) << u.module;
      EXPECT_LT(kl(s[0]), kl(s[1])) << u.module;
      EXPECT_LT(kl(s[1]), kl(s.back())) << u.module;
    }
  }
}

}  // namespace
}  // namespace gq
