// `plan`: exact bytes of a model under a recipe, from its config alone: the tensor bytes the
// exporter of the format writes (recipes/memory_footprint.h).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <optional>
#include <vector>

#include "cli/commands.h"
#include "cli/format_units.h"
#include "cli/options.h"
#include "export/compressed_tensors_messages.h"
#include "io/error.h"
#include "model/gemma4_config.h"
#include "model/quant_targets.h"
#include "recipes/memory_footprint.h"
#include "recipes/train_memory.h"
#include "recipes/recipe.h"
#include "run/run_folder.h"
#include "run/source_dtype.h"

namespace gq::cli {
namespace {

struct TrainPlanArgs {
  bool train = false;
  int64_t seq = 4096, batch = 1;
  std::vector<int> devices{1, 8};
  std::string weight_dtype = "f32";
};

// `plan --train`: what `train` holds per device, and the ZeRO splits over data-parallel ranks.
void print_train_plan(const Gemma4Config& cfg, const std::optional<ResolvedRecipe>& rr, const TrainPlanArgs& a) {
  TrainMemoryOptions o;
  o.seq_len = a.seq;
  o.micro_batch = a.batch;
  o.weight_dtype = a.weight_dtype == "bf16" ? DType::BF16 : DType::F32;
  o.activation_dtype = o.weight_dtype;
  const TrainMemory m = train_memory(cfg, rr, o);
  std::printf("training memory of %s, %s, %s weights and activations, AdamW; micro-batch %lld x %lld tokens per device\n\n",
              cfg.source.c_str(), rr ? ("QAT " + rr->name).c_str() : "plain training", a.weight_dtype.c_str(),
              (long long)a.batch, (long long)a.seq);
  std::printf("parameters %s (quantized %s, learned scales %s)\n\n", human_count(m.params).c_str(),
              human_count(m.quantized_params).c_str(), human_count(m.learned_scales).c_str());
  auto row = [](const char* name, int64_t bytes, const char* note) {
    std::printf("%-34s %12s  %s\n", name, human_bytes(double(bytes)).c_str(), note);
  };
  row("weights", m.weights, "");
  row("gradients", m.grads, "");
  row("optimizer (AdamW m + v, f32)", m.optimizer, "");
  if (m.master_weights) row("master weights (f32)", m.master_weights, "");
  if (m.learned_scale_state) row("learned scales (+ grads, state)", m.learned_scale_state, "");
  row("fake-quant saved (copies + masks)", m.fake_quant_saved, "for backward, no checkpointing");
  row("  with checkpointing", m.fake_quant_saved_ckpt, "kept all through backward (outside the layers, not the head)");
  row("activations", m.activations, "no checkpointing");
  row("  with checkpointing", m.activations_ckpt, "kept all through backward: layer inputs, donor K/V");
  row("  of which logits", m.logits, "");
  row("transient peak", m.transient, "the loss backward or a layer's scores");
  row("  with checkpointing", m.backward_peak_ckpt, "the head's backward or one recomputed layer, the larger");
  std::printf("\nper device %10s %12s %12s %12s %12s\n", "", "ZeRO-0", "ZeRO-1", "ZeRO-2", "ZeRO-3");
  for (int d : a.devices)
    for (bool ckpt : {false, true}) {
      std::printf("%3d device%s %-9s", d, d == 1 ? " " : "s", ckpt ? "ckpt" : "");
      for (int z = 0; z <= 3; ++z) std::printf(" %12s", human_bytes(double(m.per_device(d, z, ckpt))).c_str());
      std::printf("\n");
    }
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto config = std::make_shared<std::string>();
  auto recipe = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>();
  auto context = std::make_shared<int64_t>(4096);
  auto train = std::make_shared<TrainPlanArgs>();
  CLI::App* cmd = app.add_subcommand("plan", "Exact storage per component under a recipe, without allocating weights");
  cmd->add_option("--config", *config,
                  "config.json, or a checkpoint or run folder (whose weights' dtype a recipe's \"auto\" floats take)")
      ->required();
  cmd->add_option("--recipe", *recipe, "recipe file or built-in name (q4_0, mobile, w4a16-g32, ...); with --train, none for plain training");
  cmd->add_option("--format", *format,
                  "the export format whose bytes to count (default: gguf for GGUF block schemes, else compressed-tensors)")
      ->check(CLI::IsMember({"gguf", "compressed-tensors"}));
  cmd->add_option("--context", *context, "context length for the KV-cache size")->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  cmd->add_flag("--train", train->train, "training memory per device instead (weights, grads, AdamW, activations, ZeRO)");
  cmd->add_option("--seq", train->seq, "--train: tokens per sequence")->check(CLI::Range(int64_t(1), int64_t(1) << 24));
  cmd->add_option("--batch", train->batch, "--train: sequences per device per micro-batch")
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  cmd->add_option("--devices", train->devices, "--train: data-parallel device counts to tabulate (default 1 8)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--weight-dtype", train->weight_dtype, "--train: trainable weights (bf16 adds f32 master weights)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  cmd->callback([config, recipe, format, context, train] {
    const Gemma4Config cfg = Gemma4Config::load(run_folder::checkpoint_dir(*config));
    if (train->train) {
      std::optional<ResolvedRecipe> rr;
      if (!recipe->empty() && *recipe != kNoRecipe)
        rr = resolve_recipe(Recipe::load(*recipe), gemma4_quant_targets(cfg), DType::F32);  // a run trains in f32
      print_train_plan(cfg, rr, *train);
      return;
    }
    if (recipe->empty()) throw FormatError("--recipe is required (or --train)");
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
