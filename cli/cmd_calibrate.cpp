// `calibrate`: static activation (and K/V) ranges for a recipe, from sample data.
#include <CLI/CLI.hpp>

#include <cstdio>

#include <ATen/ATen.h>
#include <torch/types.h>

#include "cli/commands.h"
#include "cli/data_setup.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "text/corpus.h"
#include "io/error.h"
#include "model/quant_targets.h"
#include "qat/checkpoint_loader.h"
#include "qat/quantize.h"
#include "qat/torch_threads.h"
#include "run/source_dtype.h"

namespace gq::cli {
namespace {

struct CalibrateArgs {
  std::string model, data, recipe, out, tokenizer, observer;
  int64_t seq_len = 256, batch_size = 4, batches = 16;
  int threads = 0;
};

void run_calibrate(const CalibrateArgs& a) {
  set_torch_threads(a.threads);
  Gemma4Model model = load_model(a.model);
  const Gemma4Config& cfg = model->config();
  if (a.recipe == kNoRecipe)
    throw FormatError("--recipe none: calibrate needs a recipe with static activations or a KV cache");
  Recipe recipe = Recipe::load(a.recipe);
  if (!a.observer.empty()) recipe.observer = a.observer;
  const ResolvedRecipe rr = resolve_recipe(recipe, gemma4_quant_targets(cfg), run_folder::source_float_dtype(a.model));
  if (!rr.has_static_activations() && !rr.kv_cache)
    throw FormatError("recipe " + rr.name + " has no static activations or KV cache to calibrate");
  quantize_model(model, rr);
  begin_calibration(model);

  const auto docs = load_token_documents(a.data, tokenizer_for(a.tokenizer, a.model), cfg.vocab_size);
  const TokenWindows windows = pack_documents(docs, a.seq_len, int32_t(cfg.bos_token_id));
  const int64_t available = windows.count();
  if (available == 0)
    throw FormatError(a.data + ": not enough tokens for one sequence of " + std::to_string(a.seq_len));
  const int64_t n_batches = std::min(a.batches, (available + a.batch_size - 1) / a.batch_size);
  ProgressBar bar("calibrating", n_batches);
  at::NoGradGuard ng;
  for (int64_t b = 0; b < n_batches; ++b) {
    const int64_t first = b * a.batch_size, n = std::min(a.batch_size, available - first);
    at::Tensor ids = at::empty({n, a.seq_len}, at::kLong);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t t = 0; t < a.seq_len; ++t) ids[i][t] = int64_t(windows.window(first + i)[t]);
    model->forward(ids);
    bar.update(b + 1);
  }
  const Calibration cal = finish_calibration(model, rr.name, rr.observer);
  cal.save(a.out);
  std::printf("calibrated %zu activation inputs, %zu outputs and %zu KV caches on %lld sequences of %lld tokens (%s) -> %s\n",
              cal.activations.size(), cal.output_activations.size(), cal.kv_cache.size(), (long long)std::min(available, n_batches * a.batch_size),
              (long long)a.seq_len, rr.observer.c_str(), a.out.c_str());
}

}  // namespace

void add_calibrate_command(CLI::App& app) {
  auto a = std::make_shared<CalibrateArgs>();
  CLI::App* cmd = app.add_subcommand("calibrate", "Calibrate static activation and KV-cache scales for a recipe");
  cmd->add_option("--model", a->model, kModelHelp)->required();
  cmd->add_option("--data", a->data, "text file/folder, .jsonl (\"text\") or .ids (one sequence of ids per line)")->required();
  cmd->add_option("--recipe", a->recipe, "recipe file or built-in name")->required();
  cmd->add_option("--out", a->out, "calibration file to write (JSON)")->required();
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer for text data (default: the model's own)");
  cmd->add_option("--observer", a->observer, "override the recipe's observer")
      ->check(CLI::IsMember({"minmax", "moving_minmax", "percentile", "mse"}));
  cmd->add_option("--seq-len", a->seq_len, "tokens per sequence")->check(CLI::Range(int64_t(2), int64_t(1) << 20));
  cmd->add_option("--batch-size", a->batch_size, "sequences per forward")->check(CLI::Range(int64_t(1), int64_t(4096)));
  cmd->add_option("--batches", a->batches, "forwards to observe")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  add_threads_option(cmd, a->threads);
  cmd->callback([a] { run_calibrate(*a); });
}

GQ_REGISTER_COMMAND(add_calibrate_command);

}  // namespace gq::cli
