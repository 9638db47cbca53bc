// `ptq`: post-training quantization into a run folder (docs/run-folder.md), so that eval, export,
// validate and compare treat a PTQ baseline and a QAT run alike. --method rtn keeps the model's
// weights (the recipe's round-to-nearest is what the fake-quant model computes); --method gptq
// (qat/ptq.h) stores GPTQ's dequantized weights and its scales as the run's learned weight scales,
// so the run's fake-quant model and every export hold GPTQ's integers; --method awq (qat/awq.h) stores
// the float weights after AWQ's exact smoothing folds, under which the recipe's RTN is the run's.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "cli/commands.h"
#include "cli/data_setup.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "io/error.h"
#include "model/quant_targets.h"
#include "qat/awq.h"
#include "qat/calibration_pass.h"
#include "qat/checkpoint_loader.h"
#include "qat/ptq.h"
#include "qat/quantize.h"
#include "qat/torch_threads.h"
#include "recipes/recipe.h"
#include "run/run_folder.h"
#include "run/source_dtype.h"

namespace gq::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct PtqArgs {
  std::string model, recipe, method = "gptq", data, tokenizer, out, calib_data;
  int64_t seq_len = 512, batch_size = 8, samples = 128;
  GptqOptions gptq;
  AwqOptions awq;
  int threads = 0;
};

void run_ptq(const PtqArgs& a) {
  set_torch_threads(a.threads);
  if (fs::exists(run_folder::checkpoint_of(a.out))) throw FormatError(a.out + ": already holds a run (choose another --out)");
  Gemma4Model model = load_model(a.model);
  const Gemma4Config cfg = model->config();
  const Recipe recipe = Recipe::load(a.recipe);
  ResolvedRecipe rr = resolve_recipe(recipe, gemma4_quant_targets(cfg), run_folder::source_float_dtype(a.model));
  if (rr.untie_head && cfg.tie_word_embeddings && a.method == "gptq")
    std::fprintf(stderr,
                 "gemma-qat: note: recipe %s unties the head of a tied model; GPTQ would change the shared table, so the "
                 "head stays RTN\n",
                 rr.name.c_str());
  const bool gptq = a.method == "gptq";
  if (gptq) rr = with_stored_weight_scales(rr);

  const std::string tok = tokenizer_for(a.tokenizer, a.model);
  const TokenWindows calib =
      pack_documents(load_token_documents(a.data, tok, cfg.vocab_size), a.seq_len, int32_t(cfg.bos_token_id));
  if (calib.count() == 0) throw FormatError(a.data + ": not enough tokens for one window of " + std::to_string(a.seq_len));
  const int64_t samples = std::min(a.samples, calib.count());
  const int64_t batches = (samples + a.batch_size - 1) / a.batch_size;

  std::map<std::string, at::Tensor> weight_state;
  if (gptq) {
    std::optional<ProgressBar> bar;  // one step per stage: the PLE projection, each layer, the head
    const std::vector<GptqModuleReport> rep =
        gptq_quantize_model(model, rr, calib, a.batch_size, batches, a.gptq, [&](int64_t done, int64_t total) {
          if (!bar) bar.emplace("gptq", total);
          bar->update(done);
        });
    double rtn = 0, ours = 0;
    int64_t n = 0, unseen = 0;
    for (const GptqModuleReport& r : rep) {
      if (r.samples == 0) {
        ++unseen;
        continue;
      }
      rtn += r.loss_rtn, ours += r.loss_gptq, ++n;
    }
    std::printf("GPTQ on %lld weights (%lld calibration windows of %lld tokens, percdamp %g, block %lld%s): "
                "sum of tr((W-Q) H (W-Q)^T) RTN %.6g -> GPTQ %.6g (%.1f%% lower)%s\n",
                (long long)n, (long long)samples, (long long)a.seq_len, a.gptq.percdamp, (long long)a.gptq.block,
                a.gptq.act_order ? ", act-order" : "", rtn, ours, rtn > 0 ? 100.0 * (1.0 - ours / rtn) : 0.0,
                unseen ? (", " + std::to_string(unseen) + " never reached by the data (RTN)").c_str() : "");
    weight_state = quantization_state(model);
  } else if (a.method == "awq") {
    std::optional<ProgressBar> bar;  // one step per decoder layer
    const std::vector<AwqMappingReport> rep =
        awq_smooth_model(model, rr, calib, a.batch_size, batches, a.awq, [&](int64_t done, int64_t total) {
          if (!bar) bar.emplace("awq", total);
          bar->update(done);
        });
    double rtn = 0, ours = 0, ratios = 0;
    int64_t n = 0;
    for (const AwqMappingReport& r : rep)
      if (r.searched) rtn += r.loss_rtn, ours += r.loss_awq, ratios += r.ratio, ++n;
    std::printf("AWQ on %lld smooth/balance mappings (%lld calibration windows of %lld tokens, grid %lld%s): sum of the "
                "balance Linears' output error RTN %.6g -> AWQ %.6g (%.1f%% lower), mean ratio %.3f\n",
                (long long)n, (long long)samples, (long long)a.seq_len, (long long)a.awq.n_grid,
                a.awq.duo_scaling ? ", duo scaling" : "", rtn, ours, rtn > 0 ? 100.0 * (1.0 - ours / rtn) : 0.0,
                n ? ratios / double(n) : 0.0);
  }
  // The whole recipe (activations and KV cache too), GPTQ's weight scales put back, static scales calibrated.
  quantize_model(model, rr);
  if (gptq) {
    std::map<std::string, at::Tensor> state = quantization_state(model);
    for (const auto& [name, t] : weight_state) state[name] = t;
    load_quantization_state(model, state);
  }
  if (rr.has_static_activations()) {
    begin_calibration(model);
    forward_calibration(model, calib, a.batch_size, batches);
    finish_calibration(model, rr.name, rr.observer);
  }
  const json args = {{"command", "ptq"},     {"model", a.model},       {"recipe", a.recipe},
                     {"method", a.method},   {"data", a.data},         {"seq_len", a.seq_len},
                     {"samples", samples},   {"percdamp", a.gptq.percdamp}, {"block", a.gptq.block},
                     {"act_order", a.gptq.act_order}, {"awq_grid", a.awq.n_grid},
                     {"awq_duo_scaling", a.awq.duo_scaling}};
  write_ptq_run(model, a.out, rr, ptq_recipe_json(recipe, rr, gptq), tok, args.dump());
  std::printf("wrote %s: %s of %s under recipe %s\n", a.out.c_str(), gptq ? "GPTQ" : a.method == "awq" ? "AWQ-smoothed RTN" : "RTN", a.model.c_str(), rr.name.c_str());
}

}  // namespace

void add_ptq_command(CLI::App& app) {
  auto a = std::make_shared<PtqArgs>();
  CLI::App* cmd = app.add_subcommand("ptq", "Post-training quantization (RTN, GPTQ or AWQ) into a run folder");
  cmd->add_option("--model", a->model, kModelHelp)->required();
  cmd->add_option("--recipe", a->recipe, "recipe file or built-in name")->required();
  cmd->add_option("--method", a->method, "rtn, gptq or awq (default gptq)")->check(CLI::IsMember({"rtn", "gptq", "awq"}));
  cmd->add_option("--data", a->data, "calibration text: file/folder, .jsonl or .ids")->required();
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer (default: the model's own)");
  cmd->add_option("--out", a->out, "the run folder to write")->required();
  cmd->add_option("--seq-len", a->seq_len, "tokens per calibration window (default 512)")->check(CLI::Range(int64_t(2), int64_t(1) << 20));
  cmd->add_option("--samples", a->samples, "calibration windows (default 128)")->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  cmd->add_option("--batch-size", a->batch_size, "windows per forward (default 8)")->check(CLI::Range(int64_t(1), int64_t(4096)));
  cmd->add_option("--percdamp", a->gptq.percdamp, "GPTQ dampening, a fraction of the Hessian's mean diagonal (default 0.01)")
      ->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--block", a->gptq.block, "GPTQ lazy-update block in columns (default 128)")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  cmd->add_option("--awq-grid", a->awq.n_grid, "AWQ: ratios searched, k / N for k in [0, N) (default 20)")
      ->check(CLI::Range(int64_t(1), int64_t(1000)));
  cmd->add_flag("--awq-no-duo-scaling", [a](int64_t) { a->awq.duo_scaling = false; },
                "AWQ: scales from the activations alone (x_mean^ratio), not also the weights");
  cmd->add_flag("--act-order", a->gptq.act_order, "GPTQ: quantize columns in order of decreasing Hessian diagonal");
  add_threads_option(cmd, a->threads);
  cmd->callback([a] { run_ptq(*a); });
}

GQ_REGISTER_COMMAND(add_ptq_command);

}  // namespace gq::cli
