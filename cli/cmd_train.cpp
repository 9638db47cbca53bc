// `train`: fine-tuning (plain or QAT, optionally distilled) and training from scratch.
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <thread>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/types.h>

#include "cli/commands.h"
#include "cli/data_setup.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "cli/rank_launcher.h"
#include "io/error.h"
#include "io/text_file.h"
#include "model/quant_targets.h"
#include "qat/checkpoint_loader.h"
#include "qat/distributed.h"
#include "qat/torch_threads.h"
#include "qat/trainer.h"
#include "recipes/calibration.h"
#include "run/run_folder.h"
#include "run/train_state.h"

namespace gq::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct TrainArgs {
  std::string model, config, init, recipe, calib, teacher, data, valid, tokenizer, out, resume;
  double valid_fraction = 0.05;
  int threads = 0;
  bool distill_alpha_given = false;
  int nproc = 1;
  int rank = -1;  // given: this process is one rank of --world-size (started by --nproc or by hand)
  DistributedOptions dist;
  TrainOptions opt;
};

// Training and validation streams. Without --valid, the last `fraction` of every document's tokens
// is held out, so no validation token is ever trained on.
std::pair<TokenWindows, TokenWindows> load_data(const TrainArgs& a, const Gemma4Config& cfg) {
  auto train_docs = load_token_documents(a.data, a.tokenizer, cfg.vocab_size);
  std::vector<std::vector<int32_t>> valid_docs;
  if (!a.valid.empty()) {
    valid_docs = load_token_documents(a.valid, a.tokenizer, cfg.vocab_size);
  } else {
    for (auto& d : train_docs) {
      const size_t keep = size_t(std::llround(double(d.size()) * (1.0 - a.valid_fraction)));
      valid_docs.emplace_back(d.begin() + std::ptrdiff_t(keep), d.end());
      d.resize(keep);
    }
  }
  const int32_t bos = int32_t(cfg.bos_token_id);
  return {pack_documents(train_docs, a.opt.seq_len, bos), pack_documents(valid_docs, a.opt.seq_len, bos)};
}

json args_json(const TrainArgs& a) {
  return {{"model", a.model}, {"config", a.config}, {"init", a.init}, {"recipe", a.recipe}, {"calib", a.calib},
          {"teacher", a.teacher}, {"data", a.data}, {"valid", a.valid}, {"tokenizer", a.tokenizer},
          {"valid_fraction", a.valid_fraction}};
}

// What `train --resume RUN` takes from the command line; every other setting is the run's own, so
// a flag that would change one is refused rather than dropped.
// The data-parallel flags say how to run, not what: a run may resume on another number of ranks.
const std::set<std::string> kResumeFlags = {"--resume", "--steps", "--threads", "--device", "--nproc", "--rank",
                                            "--world-size", "--master-addr", "--master-port", "--dist-timeout"};

void refuse_flags_ignored_by_resume(const CLI::App& cmd) {
  std::string given;
  for (const CLI::Option* o : cmd.get_options())
    if (o->count() > 0 && !kResumeFlags.count(o->get_name())) given += (given.empty() ? "" : ", ") + o->get_name();
  if (!given.empty())
    throw FormatError("--resume continues a run with its own settings; remove " + given +
                      " (only --steps, --threads, --device and the data-parallel flags may be given)");
}

void run_train(TrainArgs a) {
  set_torch_threads(a.threads);
  std::shared_ptr<DataParallelGroup> group;
  if (a.rank >= 0 || a.dist.world_size > 1) {
    if (a.rank < 0) throw FormatError("--world-size needs --rank (or use --nproc N on one machine)");
    a.dist.rank = a.rank;
    // One GPU per rank, as torch.distributed's launchers assign them: `--device cuda` on rank r is
    // cuda:(r mod the visible devices); NCCL refuses two ranks on one device.
    if (a.opt.device == "cuda" && torch::cuda::device_count() > 0)
      a.opt.device = "cuda:" + std::to_string(a.rank % int(torch::cuda::device_count()));
    group = std::make_shared<DataParallelGroup>(a.dist);
  }
  const bool rank0 = !group || group->rank() == 0;
  const bool resuming = !a.resume.empty();
  json saved_args;
  if (resuming) {
    if (rank0) run_folder::recover_interrupted_save(a.resume);
    if (group) group->barrier();
    // Everything but --steps (and --threads, --device) comes from the run itself.
    const std::string ck = run_folder::checkpoint_of(a.resume);
    const std::string state_path = run_folder::file_in(ck, run_folder::kTrainState);
    if (!fs::exists(state_path)) throw FormatError(a.resume + ": no checkpoint to resume (missing " + state_path + ")");
    const run_folder::TrainState st = run_folder::read_train_state(ck);
    const json& j = st.args;
    saved_args = j;  // kept as they were: e.g. the model the run started from
    a.data = j.value("data", ""), a.valid = j.value("valid", ""), a.teacher = j.value("teacher", "");
    a.valid_fraction = j.value("valid_fraction", 0.05);
    a.tokenizer = st.tokenizer.empty() ? "" : run_folder::file_in(ck, st.tokenizer);
    a.model = ck;
    const std::string recipe = run_folder::file_in(ck, run_folder::kRecipe);
    a.recipe = fs::exists(recipe) ? recipe : "";
    a.calib.clear();
    a.out = a.resume;
    const json& o = st.options;
    a.opt.batch_size = o.at("batch_size"), a.opt.seq_len = o.at("seq_len"), a.opt.seed = o.at("seed");
  }
  if (a.out.empty()) throw FormatError("--out RUN is required (or --resume RUN)");
  if (a.model.empty() == a.config.empty()) throw FormatError("pass exactly one of --model HF_DIR or --config CONFIG --init random");
  if (!a.config.empty() && a.init != "random") throw FormatError("--config needs --init random");
  if (!resuming && fs::exists(run_folder::checkpoint_of(a.out)))
    throw FormatError(a.out + ": already holds a run (use --resume " + a.out + " to continue it, or another --out)");

  at::manual_seed(int64_t(a.opt.seed));
  Gemma4Model model = a.config.empty() ? load_model(a.model) : Gemma4Model(Gemma4Config::load(a.config));
  const Gemma4Config cfg = model->config();
  a.tokenizer = tokenizer_for(a.tokenizer, a.model);  // the run keeps a copy of the tokenizer file itself
  if (!a.tokenizer.empty() && fs::is_directory(a.tokenizer))
    throw FormatError(a.tokenizer + ": no tokenizer.json or tokenizer.model in this folder");
  std::optional<ResolvedRecipe> recipe;
  std::string recipe_json;
  if (!a.recipe.empty() && a.recipe != kNoRecipe) {
    const Recipe r = Recipe::load(a.recipe);
    recipe = resolve_recipe(r, gemma4_quant_targets(cfg), DType::F32);  // a run trains and saves in float32
    recipe_json = read_text_file(r.source);
  }
  std::optional<Calibration> calib;
  if (!a.calib.empty()) calib = Calibration::load(a.calib);
  Gemma4Model teacher(nullptr);
  if (!a.teacher.empty()) teacher = load_model(a.teacher);
  if (a.opt.distill_alpha > 0 && !teacher) throw FormatError("--distill-alpha needs --teacher HF_DIR");
  if (teacher && !a.distill_alpha_given) a.opt.distill_alpha = 1.0;

  auto [train, valid] = load_data(a, cfg);
  if (rank0)
    std::fprintf(stderr, "data: %lld training and %lld validation sequences of %lld tokens\n", (long long)train.count(),
               (long long)valid.count(), (long long)a.opt.seq_len);
  Trainer trainer(model, recipe, calib, teacher, std::move(train), std::move(valid), a.opt, a.out, recipe_json,
                  a.tokenizer, (resuming ? saved_args : args_json(a)).dump());
  if (group) trainer.set_data_parallel(group);
  if (resuming) trainer.resume();
  if (!rank0) {  // rank 0 reports for all
    trainer.run();
    return;
  }
  const int64_t first = trainer.step();
  ProgressBar bar(recipe ? "train (QAT " + recipe->name + ")" : "train", a.opt.steps - first);
  trainer.run([&](const TrainProgress& p) {
    char extra[160];
    std::snprintf(extra, sizeof extra, "loss %.4f | lr %.2e | %.0f tok/s%s", p.loss, p.lr, p.tokens_per_s,
                  p.val_loss ? (" | val ppl " + std::to_string(std::exp(*p.val_loss))).c_str() : "");
    bar.update(p.step - first, extra);
  });
  const double vl = trainer.evaluate();
  std::printf("step %lld: validation loss %.4f, perplexity %.3f -> %s\n", (long long)trainer.step(), vl, std::exp(vl),
              run_folder::checkpoint_of(a.out).c_str());
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  TrainOptions& o = a->opt;
  CLI::App* cmd = app.add_subcommand("train", "Fine-tune (plain or QAT with --recipe, optionally distilled) or train from scratch");
  cmd->add_option("--model", a->model, "Hugging Face checkpoint (or run folder) to fine-tune");
  cmd->add_option("--config", a->config, "config.json of a model to train from scratch (with --init random)");
  cmd->add_option("--init", a->init, "initialisation for --config")->check(CLI::IsMember({"random"}));
  cmd->add_option("--recipe", a->recipe, "quantization recipe for QAT (file or built-in name); none (the default): plain fine-tuning");
  cmd->add_option("--calib", a->calib, "static activation scales (default: calibrated on training batches)");
  cmd->add_option("--teacher", a->teacher, "unquantized teacher for distillation (KL on logits)");
  cmd->add_option("--distill-alpha", o.distill_alpha, "weight of the KL term (1 with --teacher unless set)")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--distill-temperature", o.distill_temperature, "softmax temperature of the KL term")->check(CLI::PositiveNumber);
  cmd->add_option("--data", a->data, "training text: file/folder, .jsonl (\"text\") or .ids");
  cmd->add_option("--valid", a->valid, "validation text (default: the last --valid-fraction of every document)");
  cmd->add_option("--valid-fraction", a->valid_fraction, "held-out share when --valid is absent")->check(CLI::Range(0.0, 0.5));
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer.json folder or SentencePiece .model (default: the model's own)");
  cmd->add_option("--out", a->out, "run folder to create");
  cmd->add_option("--resume", a->resume,
                  "run folder to continue up to --steps, with its own settings (other flags but --threads and --device "
                  "are refused)");
  cmd->add_option("--steps", o.steps, "optimizer steps in total")->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  cmd->add_option("--batch-size", o.batch_size, "sequences per micro-batch")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  cmd->add_option("--seq-len", o.seq_len, "tokens per sequence")->check(CLI::Range(int64_t(2), int64_t(1) << 20));
  cmd->add_option("--grad-accum", o.grad_accum, "micro-batches per optimizer step")->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  cmd->add_option("--lr", o.lr, "peak learning rate (AdamW)")->check(CLI::PositiveNumber);
  cmd->add_option("--min-lr-ratio", o.min_lr_ratio, "final learning rate as a fraction of --lr")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--warmup", o.warmup_steps, "linear warmup steps")->check(CLI::NonNegativeNumber);
  cmd->add_option("--decay-steps", o.decay_steps, "cosine horizon (default: --steps of the first run)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--weight-decay", o.weight_decay, "AdamW weight decay on matrices")->check(CLI::NonNegativeNumber);
  cmd->add_option("--clip", o.clip_grad_norm, "gradient-norm clipping (0: off)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--fake-quant-start", o.fake_quant_start, "plain steps before the fake-quant ops switch on")->check(CLI::NonNegativeNumber);
  cmd->add_option("--freeze", o.freeze, "regex (full match) of parameter names to freeze; repeatable");
  cmd->add_option("--seed", o.seed, "seed for initialisation and data order");
  cmd->add_option("--eval-every", o.eval_every, "validation every N steps (0: only at the end)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--eval-batches", o.eval_batches, "validation batches")->check(CLI::PositiveNumber);
  cmd->add_option("--save-every", o.save_every, "checkpoint every N steps (and at the end)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--log-every", o.log_every, "metrics.jsonl line every N steps")->check(CLI::PositiveNumber);
  cmd->add_option("--device", o.device, "cpu or cuda[:N]");
  cmd->add_flag("--activation-checkpointing", o.activation_checkpointing,
                "keep only each decoder layer's inputs and recompute the layer in backward (less memory, one "
                "more forward; the same values)");
  add_threads_option(cmd, a->threads);
  cmd->add_option("--nproc", a->nproc, "data-parallel ranks on this machine (processes; docs/distributed.md)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--rank", a->rank, "this process's rank, 0 to --world-size - 1 (several machines: one per rank)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--world-size", a->dist.world_size, "ranks in all, with --rank")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--master-addr", a->dist.master_addr, "address of rank 0 (its TCPStore), with --rank");
  cmd->add_option("--master-port", a->dist.master_port, "TCP port of rank 0's TCPStore, with --rank")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--dist-timeout", a->dist.timeout_s, "seconds a rank waits for the others (rendezvous, collectives)")
      ->check(CLI::Range(1, 86400));
  cmd->callback([a, cmd] {
    if (!a->resume.empty()) refuse_flags_ignored_by_resume(*cmd);
    if (a->nproc > 1 && a->rank < 0) {
      if (cmd->count("--world-size")) throw FormatError("--nproc starts its own ranks: drop --world-size (or use --rank)");
      if (a->resume.empty() && a->opt.batch_size % a->nproc != 0)  // before any rank starts (the ranks check it too)
        throw FormatError("--batch-size " + std::to_string(a->opt.batch_size) + " is not a multiple of the " +
                          std::to_string(a->nproc) + " ranks (each rank trains batch-size / ranks sequences of every micro-batch)");
      // Each rank an equal share of the cores unless --threads says otherwise.
      std::vector<std::string> extra;
      if (cmd->count("--threads") == 0)
        extra = {"--threads", std::to_string(std::max(1, int(std::thread::hardware_concurrency()) / a->nproc))};
      launch_local_ranks(a->nproc, "--nproc", extra);
      return;
    }
    a->distill_alpha_given = cmd->count("--distill-alpha") > 0;
    run_train(*a);
  });
}

GQ_REGISTER_COMMAND(add_train_command);

}  // namespace gq::cli
