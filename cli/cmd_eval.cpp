// `eval`: held-out perplexity computed the way llama-perplexity computes it (engine/perplexity.h:
// chunks of n_ctx tokens, BOS first, second half scored), of a checkpoint (plain or under a recipe's
// fake-quant ops), a run (the fake-quant model it trained or a PTQ run's) or a GGUF file (on the
// reference engine); beside a reference model (default: the unquantized model it came from) also
// KL divergence, top-1 agreement and Δppl; and the model's bytes.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "cli/commands.h"
#include "cli/data_setup.h"
#include "cli/model_setup.h"
#include "cli/options.h"
#include "cli/progress.h"
#include "engine/forward.h"
#include "engine/perplexity.h"
#include "engine/weights.h"
#include "formats/gguf.h"
#include "io/error.h"
#include "io/text_file.h"
#include "model/quant_targets.h"
#include "qat/checkpoint_loader.h"
#include "qat/torch_threads.h"
#include "recipes/memory_footprint.h"
#include "run/run_folder.h"
#include "run/source_dtype.h"
#include "run/train_state.h"

namespace gq::cli {
namespace {

using nlohmann::json;

// llama-perplexity's usual context (its README's figures and most published ones use -c 512).
constexpr int64_t kDefaultCtx = 512;

struct EvalArgs {
  std::string model, data, tokenizer, reference, json;
  int64_t ctx = 0, batch_size = 4, chunks = 0;
  int threads = 0;
  QuantArgs quant;
};

bool is_gguf(const std::string& path) { return path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0; }

// What eval runs: the LibTorch model (fake-quant or not) or a GGUF on the reference engine. Both give
// the scored rows of each chunk's logits.
class LogitSource {
 public:
  virtual ~LogitSource() = default;
  virtual const Gemma4Config& config() const = 0;
  // Rows first .. first + rows - 1 of each chunk's logits, [chunks.size(), rows, V] row-major.
  virtual std::vector<float> scored_logits(const std::vector<std::vector<int32_t>>& chunks, int64_t first, int64_t rows) = 0;
  std::string label;        // "MODEL (recipe q4_0)"
  int64_t bytes = 0;        // the model's stored tensor bytes
  std::string bytes_what;   // how they were counted
};

class TorchSource : public LogitSource {
 public:
  // quant: the command's --recipe / --calib (nullptr: unquantized, as a reference is).
  TorchSource(const std::string& path, const QuantArgs* quant) : model_(load_model(path)) {
    QuantArgs none{kNoRecipe, ""};
    recipe_ = apply_quant_args(model_, quant ? *quant : none, path);
    model_->eval();
    label = path + (recipe_ ? " (recipe " + recipe_->name + ")" : "");
    // Unquantized: the float tensors in the checkpoint's dtype, as an hf export stores them.
    const ResolvedRecipe rr = recipe_ ? *recipe_
                                      : resolve_recipe(Recipe{}, gemma4_quant_targets(model_->config()),
                                                       run_folder::source_float_dtype(path));
    const StorageFormat f = recipe_ ? default_storage_format(rr) : StorageFormat::CompressedTensors;
    bytes = memory_footprint(model_->config(), rr, f, 1).total.bytes;
    bytes_what = recipe_ ? std::string("tensor bytes as ") + storage_format_name(f) + " (gemma-qat plan)"
                         : std::string("tensor bytes as safetensors, ") + dtype_name(rr.float_dtype);
  }
  const Gemma4Config& config() const override { return model_->config(); }
  bool quantized() const { return recipe_.has_value(); }
  std::vector<float> scored_logits(const std::vector<std::vector<int32_t>>& chunks, int64_t first, int64_t rows) override {
    return cli::scored_logits(model_, chunks, first, rows);
  }

 private:
  Gemma4Model model_;
  std::optional<ResolvedRecipe> recipe_;
};

class GgufSource : public LogitSource {
 public:
  explicit GgufSource(const std::string& path) : weights_(engine::ModelWeights::load_gguf(path)) {
    const GgufFile f = GgufFile::open(path);
    label = path;
    bytes = int64_t(f.size() - f.data_start());
    bytes_what = "the GGUF's tensor data";
  }
  const Gemma4Config& config() const override { return weights_.config(); }
  std::vector<float> scored_logits(const std::vector<std::vector<int32_t>>& chunks, int64_t first, int64_t rows) override {
    const int64_t V = weights_.config().vocab_size;
    std::vector<float> out;
    out.reserve(size_t(int64_t(chunks.size()) * rows * V));
    for (const std::vector<int32_t>& c : chunks) {
      const std::vector<float> y = engine::logits(weights_, c);  // exact mode: the whole chunk from position 0
      out.insert(out.end(), y.begin() + first * V, y.begin() + (first + rows) * V);
    }
    return out;
  }

 private:
  engine::ModelWeights weights_;
};

std::unique_ptr<LogitSource> open_source(const std::string& path, const QuantArgs* quant) {
  if (is_gguf(path)) {
    if (quant && !quant->recipe.empty())
      throw FormatError(path + ": --recipe / --calib apply to checkpoints and runs; a .gguf is evaluated as it is stored");
    return std::make_unique<GgufSource>(path);
  }
  return std::make_unique<TorchSource>(path, quant);
}

// The reference when --reference is not given: for a run, the model it started from (train --model,
// ptq --model) when that folder is still there; for a checkpoint under a recipe, itself unquantized.
std::string default_reference(const EvalArgs& a, bool quantized) {
  if (is_gguf(a.model)) return "";
  if (run_folder::is_run_folder(a.model)) {
    std::error_code ec;
    const std::string ck = run_folder::checkpoint_dir(a.model);
    if (std::filesystem::exists(run_folder::file_in(ck, run_folder::kTrainState), ec)) {
      const run_folder::TrainState st = run_folder::read_train_state(ck);
      const std::string base = st.args.value("model", std::string());
      if (!base.empty() && std::filesystem::is_directory(base, ec)) return base;
      if (!base.empty())
        std::fprintf(stderr, "gemma-qat: note: the run's base model %s is not there; pass --reference\n", base.c_str());
    }
  }
  return quantized ? a.model : "";
}

void check_same_model(const LogitSource& model, const LogitSource& ref) {
  const Gemma4Config &a = model.config(), &b = ref.config();
  if (a.vocab_size != b.vocab_size)
    throw FormatError(ref.label + ": vocabulary of " + std::to_string(b.vocab_size) + " tokens; " + model.label + ": " +
                      std::to_string(a.vocab_size) + ": not a reference for this model");
}

std::string format(const char* fmt, double v) {
  char b[64];
  std::snprintf(b, sizeof b, fmt, v);
  return b;
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Perplexity as llama-perplexity computes it, with KL divergence and top-1 agreement against a reference");
  cmd->add_option("MODEL", a->model, std::string(kModelHelp) + ", or a .gguf file (run on the reference engine)")->required();
  cmd->add_option("--data", a->data, "text file/folder, .jsonl or .ids: one token stream, BOS before each document")->required();
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer (default: the model's own; for a .gguf, the reference's)");
  cmd->add_option("--ctx", a->ctx, "n_ctx: tokens per chunk, the second half scored (default 512, or the model's "
                                   "max_position_embeddings if smaller)")
      ->check(CLI::Range(int64_t(4), int64_t(1) << 20));
  cmd->add_option("--chunks", a->chunks, "evaluate only the first N chunks (0: all; llama-perplexity's --chunks)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch-size", a->batch_size, "chunks per forward (LibTorch models)")->check(CLI::Range(int64_t(1), int64_t(4096)));
  cmd->add_option("--reference", a->reference,
                  "unquantized model for KL divergence, top-1 agreement and Δppl: checkpoint, run (its float weights) "
                  "or .gguf; none: no reference (default: a run's base model; a checkpoint under --recipe, itself)");
  cmd->add_option("--json", a->json, "also write the figures to this JSON file");
  add_threads_option(cmd, a->threads);
  add_quant_args(cmd, a->quant);
  cmd->callback([a] {
    set_torch_threads(a->threads);
    std::unique_ptr<LogitSource> model = open_source(a->model, &a->quant);
    const auto* torch_model = dynamic_cast<const TorchSource*>(model.get());
    std::string ref_path = a->reference == kNoRecipe ? "" : a->reference;
    if (a->reference.empty()) ref_path = default_reference(*a, torch_model && torch_model->quantized());
    std::unique_ptr<LogitSource> ref = ref_path.empty() ? nullptr : open_source(ref_path, nullptr);
    if (ref) check_same_model(*model, *ref);

    const Gemma4Config& c = model->config();
    const int64_t n_ctx = a->ctx > 0 ? a->ctx : std::min(kDefaultCtx, c.max_position_embeddings);
    const std::string tok = tokenizer_for(a->tokenizer, is_gguf(a->model) ? ref_path : a->model);
    std::vector<int32_t> stream;
    for (const std::vector<int32_t>& d : load_token_documents(a->data, tok, c.vocab_size)) {
      stream.push_back(int32_t(c.bos_token_id));
      stream.insert(stream.end(), d.begin(), d.end());
    }
    const engine::PerplexityChunks chunks(std::move(stream), n_ctx, int32_t(c.bos_token_id), a->chunks);
    const int64_t first = chunks.first(), rows = chunks.scored_per_chunk();

    engine::PerplexityScorer scorer(c.vocab_size);
    ProgressBar bar("eval", chunks.count());
    for (int64_t i0 = 0; i0 < chunks.count(); i0 += a->batch_size) {
      const int64_t n = std::min(a->batch_size, chunks.count() - i0);
      std::vector<std::vector<int32_t>> ids;
      for (int64_t i = i0; i < i0 + n; ++i) ids.push_back(chunks.chunk(i));
      const std::vector<float> y = model->scored_logits(ids, first, rows);
      const std::vector<float> r = ref ? ref->scored_logits(ids, first, rows) : std::vector<float>();
      const size_t per = size_t(rows * c.vocab_size);
      for (int64_t k = 0; k < n; ++k)
        scorer.add(y.data() + size_t(k) * per, ref ? r.data() + size_t(k) * per : nullptr, chunks.targets(i0 + k), rows);
      bar.update(i0 + n, "ppl " + format("%.3f", scorer.result().perplexity()));
    }
    const engine::PerplexityResult res = scorer.result();

    std::printf("%s: n_ctx %lld, %lld chunks, %lld tokens scored, loss %.4f nats/token, perplexity %.3f\n", model->label.c_str(),
                (long long)n_ctx, (long long)chunks.count(), (long long)res.tokens, res.mean_nll, res.perplexity());
    if (ref)
      std::printf("  vs %s: perplexity %.3f, Δppl %+.3f, mean KL %.5f nats/token (p99 %.5f), same top-1 %.2f%%\n",
                  ref->label.c_str(), res.reference_perplexity(), res.perplexity() - res.reference_perplexity(), res.mean_kl,
                  res.kl_p99, 100.0 * res.top1);
    std::printf("  model bytes %lld (%s)\n", (long long)model->bytes, model->bytes_what.c_str());
    if (!a->json.empty()) {
      json j = {{"model", a->model},       {"label", model->label},      {"data", a->data},
                {"n_ctx", n_ctx},          {"chunks", chunks.count()},   {"tokens", res.tokens},
                {"mean_nll", res.mean_nll}, {"perplexity", res.perplexity()}, {"model_bytes", model->bytes},
                {"model_bytes_counted", model->bytes_what}};
      if (ref)
        j["reference"] = {{"model", ref_path},
                          {"perplexity", res.reference_perplexity()},
                          {"mean_nll", res.reference_mean_nll},
                          {"delta_ppl", res.perplexity() - res.reference_perplexity()},
                          {"mean_kl", res.mean_kl},
                          {"kl_p99", res.kl_p99},
                          {"top1_agreement", res.top1}};
      write_text_file(a->json, j.dump(2) + "\n");
    }
  });
}

GQ_REGISTER_COMMAND(add_eval_command);

}  // namespace gq::cli
