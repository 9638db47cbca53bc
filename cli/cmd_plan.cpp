// `plan`: exact bytes of a model under a recipe, from its config alone.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/format_units.h"
#include "model/gemma4_config.h"
#include "recipes/memory_footprint.h"
#include "model/quant_targets.h"
#include "recipes/recipe.h"

namespace gq::cli {

void add_plan_command(CLI::App& app) {
  auto config = std::make_shared<std::string>();
  auto recipe = std::make_shared<std::string>();
  auto context = std::make_shared<int64_t>(4096);
  CLI::App* cmd = app.add_subcommand("plan", "Exact storage per component under a recipe, without allocating weights");
  cmd->add_option("--config", *config, "config.json, or a checkpoint folder")->required();
  cmd->add_option("--recipe", *recipe, "recipe file or built-in name (q4_0, mobile, w4a16-g32, ...)")->required();
  cmd->add_option("--context", *context, "context length for the KV-cache size")->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  cmd->callback([config, recipe, context] {
    const Gemma4Config cfg = Gemma4Config::load(*config);
    const Recipe r = Recipe::load(*recipe);
    const ResolvedRecipe rr = resolve_recipe(r, gemma4_quant_targets(cfg));
    const MemoryFootprint p = memory_footprint(cfg, rr, *context);
    std::printf("recipe %s on %s\n\n", r.name.c_str(), cfg.source.c_str());
    std::printf("%-22s %14s %14s\n", "component", "parameters", "bytes");
    for (const auto& [name, e] : p.components)
      std::printf("%-22s %14s %14s\n", name.c_str(), human_count(e.params).c_str(), human_bytes(double(e.bytes)).c_str());
    std::printf("%-22s %14s %14s  (%lld bytes)\n", "total", human_count(p.total.params).c_str(),
                human_bytes(double(p.total.bytes)).c_str(), (long long)p.total.bytes);
    if (p.ple_table_bytes)
      std::printf("%-22s %14s %14s  (PLE table kept out of RAM)\n", "text only", "",
                  human_bytes(double(p.total.bytes - p.ple_table_bytes)).c_str());
    std::printf("%-22s %14s %14s  (%s, %lld tokens, batch 1)\n", "KV cache", "", human_bytes(double(p.kv_cache_bytes)).c_str(),
                rr.kv_cache ? quant::kv_scheme_name(*rr.kv_cache).c_str() : "f16", (long long)p.context);
    std::printf("\nparameters per storage scheme:");
    for (const auto& [scheme, n] : p.scheme_params) std::printf("  %s %s", scheme.c_str(), human_count(n).c_str());
    std::printf("\n");
  });
}

GQ_REGISTER_COMMAND(add_plan_command);

}  // namespace gq::cli
