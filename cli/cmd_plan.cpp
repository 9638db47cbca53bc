// `plan`: exact bytes of a model under a recipe, from its config alone: the tensor bytes the
// exporter of the format writes (recipes/memory_footprint.h).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/format_units.h"
#include "export/compressed_tensors_messages.h"
#include "model/gemma4_config.h"
#include "model/quant_targets.h"
#include "recipes/memory_footprint.h"
#include "recipes/recipe.h"
#include "run/run_folder.h"
#include "run/source_dtype.h"

namespace gq::cli {

void add_plan_command(CLI::App& app) {
  auto config = std::make_shared<std::string>();
  auto recipe = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>();
  auto context = std::make_shared<int64_t>(4096);
  CLI::App* cmd = app.add_subcommand("plan", "Exact storage per component under a recipe, without allocating weights");
  cmd->add_option("--config", *config,
                  "config.json, or a checkpoint or run folder (whose weights' dtype a recipe's \"auto\" floats take)")
      ->required();
  cmd->add_option("--recipe", *recipe, "recipe file or built-in name (q4_0, mobile, w4a16-g32, ...)")->required();
  cmd->add_option("--format", *format,
                  "the export format whose bytes to count (default: gguf for GGUF block schemes, else compressed-tensors)")
      ->check(CLI::IsMember({"gguf", "compressed-tensors"}));
  cmd->add_option("--context", *context, "context length for the KV-cache size")->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  cmd->callback([config, recipe, format, context] {
    const Gemma4Config cfg = Gemma4Config::load(run_folder::checkpoint_dir(*config));
    const Recipe r = Recipe::load(*recipe);
    const ResolvedRecipe rr = resolve_recipe(r, gemma4_quant_targets(cfg), run_folder::source_float_dtype(*config));
    const StorageFormat f = format->empty() ? default_storage_format(rr) : *storage_format_from_name(*format);
    const MemoryFootprint p = memory_footprint(cfg, rr, f, *context);
    std::printf("recipe %s on %s, as %s (float tensors %s)\n\n", r.name.c_str(), cfg.source.c_str(), storage_format_name(f),
                compressed_tensors::flag_dtype_name(rr.float_dtype).c_str());
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
