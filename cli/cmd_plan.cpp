// `plan`: exact bytes of a model under a recipe, from its config alone: the tensor bytes the
// exporter of the format writes (recipes/memory_footprint.h). `plan --budget` (docs/planner.md)
// writes the per-module recipe of one format's schemes that fits a byte budget with the least
// predicted KL: each module's sensitivity measured on held-out text (cli/plan_sensitivity.h), or
// for a config alone a labelled proxy (recipes/budget_plan.h).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include "cli/commands.h"
#include "cli/data_setup.h"
#include "cli/format_units.h"
#include "cli/options.h"
#include "cli/plan_sensitivity.h"
#include "cli/progress.h"
#include "io/text_file.h"
#include "qat/checkpoint_loader.h"
#include "qat/torch_threads.h"
#include "recipes/budget_plan.h"
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

struct BudgetPlanArgs {
  std::string budget, data, tokenizer, out;
  bool text_only = false, verify = false;
  int64_t ctx = 128, chunks = 8, batch_size = 4;
  int threads = 0;
};

// "layers.3.self_attn.q_proj" -> layer 3, "q_proj"; -1 for a module outside the layers.
std::pair<int64_t, std::string> layer_and_short_name(const std::string& module) {
  if (module.rfind("layers.", 0) != 0) return {-1, module};
  const size_t dot = module.find('.', 7);
  std::string rest = module.substr(dot + 1);
  for (const char* prefix : {"self_attn.", "mlp.", "experts."})
    if (rest.rfind(prefix, 0) == 0) rest = rest.substr(std::string(prefix).size());
  return {std::stoll(module.substr(7, dot - 7)), rest};
}

// The chosen scheme of every module: the modules outside the layers, then one row per layer.
void print_bit_map(const PlanPricing& p, const std::vector<int>& choice) {
  std::vector<std::string> columns;
  std::map<int64_t, std::map<std::string, std::string>> rows;
  std::printf("\nbit map (scheme, stored bits per weight):\n");
  for (size_t i = 0; i < p.units.size(); ++i) {
    const PlanUnit& u = p.units[i];
    const SchemeCandidate& c = u.candidates[size_t(choice[i])];
    const auto [layer, name] = layer_and_short_name(u.module);
    if (layer < 0) {
      std::printf("  %-24s %-12s %5.2f%s\n", u.module.c_str(), c.scheme.c_str(), 8.0 * double(c.bytes) / double(u.params),
                  u.outside_budget ? "  (outside the text-only budget)" : "");
      continue;
    }
    if (std::find(columns.begin(), columns.end(), name) == columns.end()) columns.push_back(name);
    rows[layer][name] = c.scheme;
  }
  std::printf("  %-8s", "layer");
  for (const std::string& c : columns) std::printf(" %-12s", c.c_str());
  std::printf("\n");
  for (const auto& [layer, cells] : rows) {
    std::printf("  %-8lld", (long long)layer);
    for (const std::string& c : columns) {
      auto it = cells.find(c);
      std::printf(" %-12s", it == cells.end() ? "-" : it->second.c_str());
    }
    std::printf("\n");
  }
}

void run_budget_plan(const std::string& model, const std::string& format, const BudgetPlanArgs& a) {
  const int64_t budget = parse_byte_size(a.budget, "--budget");
  if (a.out.empty()) throw FormatError("--budget needs --out, the recipe file to write");
  const StorageFormat family = format.empty() ? StorageFormat::Gguf : *storage_format_from_name(format);
  std::error_code ec;
  const bool weightless = std::filesystem::is_regular_file(model, ec);  // a config.json alone
  if (weightless && a.verify) throw FormatError("--verify measures KL on the weights: " + model + " is a config alone");
  if (!weightless && a.data.empty())
    throw FormatError("--data (held-out text) is required to measure the sensitivities on " + model +
                      "'s weights (a config.json alone plans with the proxy)");
  const Gemma4Config cfg = Gemma4Config::load(run_folder::checkpoint_dir(model));
  const DType source = run_folder::source_float_dtype(model);
  PlanPricing p = price_plan_units(cfg, family, source, a.text_only);
  require_budget(p, budget);  // before minutes of measuring
  std::string candidates;
  for (const std::string& s : family_schemes(family)) candidates += s + ", ";
  std::printf("budget plan for %s: %s schemes (%s%s), budget %s (%lld bytes%s)\n", model.c_str(), storage_format_name(family),
              candidates.c_str(), kFloatCandidate, human_bytes(double(budget)).c_str(), (long long)budget,
              a.text_only ? ", text only: the PLE table outside" : "");

  std::optional<Gemma4Model> torch_model;
  std::optional<RecipeKlMeter> meter;
  auto recipe_of = [&](const std::string& json, const std::string& name) {
    return resolve_recipe(Recipe::parse(json, name), gemma4_quant_targets(cfg), source);
  };
  std::string kl_what;
  if (weightless) {
    fill_proxy_sensitivities(p);
    kl_what = "proxy score";
    std::printf("sensitivities: proxy (no weights): prior(kind) x parameters x the scheme's relative RTN error on "
                "Gaussian rows; a score, not a KL\n");
  } else {
    set_torch_threads(a.threads);
    torch_model.emplace(load_model(model));
    const std::string tok = tokenizer_for(a.tokenizer, model);
    std::vector<int32_t> stream;
    for (const std::vector<int32_t>& d : load_token_documents(a.data, tok, cfg.vocab_size)) {
      stream.push_back(int32_t(cfg.bos_token_id));
      stream.insert(stream.end(), d.begin(), d.end());
    }
    meter.emplace(*torch_model, engine::PerplexityChunks(std::move(stream), a.ctx, int32_t(cfg.bos_token_id), a.chunks),
                  a.batch_size);
    const engine::PerplexityChunks& ch = meter->chunks();
    kl_what = "KL";
    std::printf("sensitivities: KL(float || only that module at the scheme, RTN) in nats/token on %s: n_ctx %lld, %lld "
                "chunks, %lld tokens scored\n",
                a.data.c_str(), (long long)ch.n_ctx(), (long long)ch.count(), (long long)(ch.count() * ch.scored_per_chunk()));
    int64_t probes = 0, done = 0;
    // Outside the budget only the scheme the unit keeps (its KL still counts in the prediction).
    auto probed = [](const PlanUnit& u, size_t c) {
      return u.candidates[c].scheme != kFloatCandidate && (!u.outside_budget || int(c) == fixed_choice(u));
    };
    for (const PlanUnit& u : p.units)
      for (size_t c = 0; c < u.candidates.size(); ++c) probes += probed(u, c);
    ProgressBar bar("sensitivity", probes);
    for (PlanUnit& u : p.units) {
      for (size_t ci = 0; ci < u.candidates.size(); ++ci) {
        if (!probed(u, ci)) continue;  // float is the reference itself: KL 0
        SchemeCandidate& c = u.candidates[ci];
        nlohmann::json rule = nlohmann::json::object();
        rule["targets"] = nlohmann::json::array({u.module});
        rule["scheme"] = c.scheme;
        nlohmann::json one = nlohmann::json::object();
        one["name"] = "probe";
        one["weights"] = nlohmann::json::array({rule});
        c.predicted_kl = meter->measure(recipe_of(one.dump(), u.module + " at " + c.scheme)).mean_kl;
        bar.update(++done);
      }
    }
  }

  const BudgetPlan plan = plan_for_budget(p, budget);
  std::printf("\n%-44s %12s", "module", "parameters");
  for (const std::string& s : family_schemes(family)) std::printf(" %12s", s.c_str());
  std::printf("  chosen\n");
  for (size_t i = 0; i < p.units.size(); ++i) {
    const PlanUnit& u = p.units[i];
    std::printf("%-44s %12s", u.module.c_str(), human_count(u.params).c_str());
    for (const std::string& s : family_schemes(family)) {
      auto c = std::find_if(u.candidates.begin(), u.candidates.end(), [&](const SchemeCandidate& x) { return x.scheme == s; });
      if (c == u.candidates.end() || (u.outside_budget && c - u.candidates.begin() != fixed_choice(u)))
        std::printf(" %12s", "-");
      else
        std::printf(" %12.4g", c->predicted_kl);
    }
    std::printf("  %s\n", u.candidates[size_t(plan.choice[i])].scheme.c_str());
  }
  print_bit_map(p, plan.choice);

  std::printf("\nplanned: %lld bytes counted (budget %lld, byte quantum %lld), %lld bytes in all; predicted %s %.6g (the "
              "sum of the modules' sensitivities)\n",
              (long long)plan.counted_bytes, (long long)budget, (long long)plan.byte_quantum, (long long)plan.total_bytes,
              kl_what.c_str(), plan.predicted_kl);
  for (const std::string& s : family_schemes(family)) {
    const std::vector<int> u = uniform_choice(p, s);
    std::printf("  uniform %-14s %14lld bytes counted, predicted %s %.6g\n", s.c_str(), (long long)chosen_bytes(p, u, false),
                kl_what.c_str(), chosen_kl(p, u));
  }

  char description[256];
  std::snprintf(description, sizeof description, "gemma-qat plan --budget %lld bytes%s as %s; predicted %s %.6g",
                (long long)budget, a.text_only ? " (text only)" : "", storage_format_name(family), kl_what.c_str(),
                plan.predicted_kl);
  const std::string json = plan_recipe_json(p, plan.choice, std::filesystem::path(a.out).stem().string(), description);
  const ResolvedRecipe planned = recipe_of(json, a.out);  // what ptq --recipe will read
  write_text_file(a.out, json);
  std::printf("wrote %s (ptq --recipe %s, train --recipe %s)\n", a.out.c_str(), a.out.c_str(), a.out.c_str());
  if (a.verify) {
    const engine::PerplexityResult r = meter->measure(planned);
    std::printf("verify: predicted KL %.5f, measured KL %.5f nats/token (p99 %.5f, same top-1 %.2f%%) of the whole recipe on "
                "the same chunks\n",
                plan.predicted_kl, r.mean_kl, r.kl_p99, 100.0 * r.top1);
  }
}

}  // namespace

void add_plan_command(CLI::App& app) {
  auto config = std::make_shared<std::string>();
  auto recipe = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>();
  auto context = std::make_shared<int64_t>(4096);
  auto train = std::make_shared<TrainPlanArgs>();
  auto bp = std::make_shared<BudgetPlanArgs>();
  CLI::App* cmd = app.add_subcommand("plan", "Exact storage per component under a recipe, without allocating weights");
  cmd->add_option("--config,--model", *config,
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
  CLI::Option* budget = cmd->add_option("--budget", bp->budget,
                                        "plan a recipe for this many bytes (0.95GB, 512MB, 123456): the least predicted KL "
                                        "within them")
                            ->excludes("--recipe")
                            ->excludes("--train");
  // The planner's own options: given without --budget they would be ignored, so they are refused.
  cmd->add_flag("--text-only", bp->text_only, "--budget: the PLE table stays outside the budget (kept out of RAM)")->needs(budget);
  cmd->add_option("--data", bp->data, "--budget: held-out text the sensitivities are measured on (file/folder, .jsonl or .ids)")
      ->needs(budget);
  cmd->add_option("--tokenizer", bp->tokenizer, "--budget: tokenizer (default: the model's own)")->needs(budget);
  cmd->add_option("--out", bp->out, "--budget: the recipe file to write")->needs(budget);
  cmd->add_flag("--verify", bp->verify, "--budget: measure the planned recipe's KL on the same chunks (predicted vs measured)")
      ->needs(budget);
  cmd->add_option("--ctx", bp->ctx, "--budget: n_ctx of the KL chunks, as eval --ctx (default 128)")
      ->check(CLI::Range(int64_t(4), int64_t(1) << 20))
      ->needs(budget);
  cmd->add_option("--chunks", bp->chunks, "--budget: chunks of the data to measure on (default 8; 0: all)")
      ->check(CLI::NonNegativeNumber)
      ->needs(budget);
  cmd->add_option("--batch-size", bp->batch_size, "--budget: chunks per forward (default 4)")
      ->check(CLI::Range(int64_t(1), int64_t(4096)))
      ->needs(budget);
  add_threads_option(cmd, bp->threads, "--budget: CPU threads")->needs(budget);
  cmd->callback([config, recipe, format, context, train, bp] {
    if (!bp->budget.empty()) return run_budget_plan(*config, *format, *bp);
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
      std::printf("%-22s %14s %14s  (%lld bytes, PLE table kept out of RAM)\n", "text only", "",
                  human_bytes(double(p.total.bytes - p.ple_table_bytes)).c_str(),
                  (long long)(p.total.bytes - p.ple_table_bytes));
    std::printf("%-22s %14s %14s  (%s, %lld tokens, batch 1)\n", "KV cache", "", human_bytes(double(p.kv_cache_bytes)).c_str(),
                rr.kv_cache ? quant::kv_scheme_name(*rr.kv_cache).c_str() : "f16", (long long)p.context);
    std::printf("\nparameters per storage scheme:");
    for (const auto& [scheme, n] : p.scheme_params) std::printf("  %s %s", scheme.c_str(), human_count(n).c_str());
    std::printf("\n");
  });
}

GQ_REGISTER_COMMAND(add_plan_command);

}  // namespace gq::cli
