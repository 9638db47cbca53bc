// `eval`: held-out perplexity of a model, plain or under a recipe's fake-quant ops (PTQ when the
// model is an unquantized checkpoint, the trained QAT model when it is a run folder).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/data_setup.h"
#include "cli/model_setup.h"
#include "cli/options.h"
#include "text/corpus.h"
#include "qat/checkpoint_loader.h"
#include "qat/evaluate.h"
#include "qat/torch_threads.h"

namespace gq::cli {
namespace {

struct EvalArgs {
  std::string model, data, tokenizer;
  int64_t seq_len = 256, batch_size = 8, max_batches = 0;
  int threads = 0;
  QuantArgs quant;
};

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Perplexity on held-out text, optionally under a recipe (fake quant)");
  cmd->add_option("MODEL", a->model, kModelHelp)->required();
  cmd->add_option("--data", a->data, "text file/folder, .jsonl or .ids")->required();
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer (default: the model's own)");
  cmd->add_option("--seq-len", a->seq_len, "tokens per window")->check(CLI::Range(int64_t(2), int64_t(1) << 20));
  cmd->add_option("--batch-size", a->batch_size, "windows per forward")->check(CLI::Range(int64_t(1), int64_t(4096)));
  cmd->add_option("--max-batches", a->max_batches, "stop after N batches (0: all)")->check(CLI::NonNegativeNumber);
  add_threads_option(cmd, a->threads);
  add_quant_args(cmd, a->quant);
  cmd->callback([a] {
    set_torch_threads(a->threads);
    Gemma4Model model = load_model(a->model);
    const auto rr = apply_quant_args(model, a->quant, a->model);
    const std::string tok = tokenizer_for(a->tokenizer, a->model);
    const TokenWindows w = pack_documents(load_token_documents(a->data, tok, model->config().vocab_size), a->seq_len,
                                          int32_t(model->config().bos_token_id));
    const EvalResult r = evaluate_windows(model, w, a->batch_size, a->max_batches);
    std::printf("%s%s: %lld tokens, loss %.4f nats/token, perplexity %.3f\n", a->model.c_str(),
                rr ? (" (" + rr->name + ")").c_str() : "", (long long)r.tokens, r.mean_loss, r.perplexity());
  });
}

GQ_REGISTER_COMMAND(add_eval_command);

}  // namespace gq::cli
