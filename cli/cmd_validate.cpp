// `validate`: an exported GGUF file against the model it should deploy. The torch-free engine runs
// what the file holds; the LibTorch model of the run (its fake-quant model) or of a checkpoint under
// --recipe runs what was trained. Both see the same tokens; the command prints how far apart their
// logits and greedy tokens are, and fails when max |Δlogit| exceeds --tolerance.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <ATen/ATen.h>
#include <torch/types.h>

#include "cli/commands.h"
#include "cli/data_setup.h"
#include "cli/model_setup.h"
#include "cli/options.h"
#include "engine/decode.h"
#include "engine/forward.h"
#include "engine/thread_pool.h"
#include "engine/native_weights.h"
#include "engine/weights.h"
#include "io/error.h"
#include "qat/checkpoint_loader.h"
#include "qat/generate.h"
#include "qat/torch_threads.h"

namespace gq::cli {
namespace {

constexpr int64_t kDefaultTokens = 32, kDataTokens = 128;
constexpr int kGreedyTokens = 16;

struct ValidateArgs {
  std::string file, against, ids, data, tokenizer;
  double tolerance = 1e-3;
  int threads = 0;
  QuantArgs quant;
};

// Ids every token table of both models has a row for (a PLE table may be shorter than the vocab).
int64_t id_limit(const Gemma4Config& c) {
  return c.has_ple() ? std::min(c.vocab_size, c.vocab_size_per_layer_input) : c.vocab_size;
}

// The default tokens: BOS, then ids spread over the vocabulary past the special ones (0..2), fixed
// so that two validations of one file are comparable.
std::vector<int64_t> default_tokens(const Gemma4Config& c) {
  const int64_t span = id_limit(c) - 3;
  std::vector<int64_t> ids = {c.bos_token_id};
  for (int64_t i = 1; i < kDefaultTokens; ++i) ids.push_back(3 + (i * 7919) % std::max<int64_t>(1, span));
  return ids;
}

// The first kDataTokens tokens of the text, documents packed as eval packs them (BOS before each).
std::vector<int64_t> data_tokens(const ValidateArgs& a, const Gemma4Config& c) {
  std::vector<int64_t> ids;
  for (const std::vector<int32_t>& doc : load_token_documents(a.data, tokenizer_for(a.tokenizer, a.against), c.vocab_size)) {
    ids.push_back(c.bos_token_id);
    for (int32_t id : doc) {
      if (int64_t(ids.size()) >= kDataTokens) break;
      ids.push_back(id);
    }
    if (int64_t(ids.size()) >= kDataTokens) break;
  }
  return ids;
}

struct Comparison {
  double max_abs = 0, mean_kl = 0;
  int64_t top1 = 0, positions = 0;
};

// model and file: [T, V] row-major. KL(model || file) per position, in nats, in double.
Comparison compare(const float* model, const std::vector<float>& file, int64_t T, int64_t V) {
  Comparison r;
  r.positions = T;
  std::vector<double> lp(static_cast<size_t>(V)), lq(static_cast<size_t>(V));
  for (int64_t t = 0; t < T; ++t) {
    const float* p = model + t * V;
    const float* q = file.data() + t * V;
    for (int64_t i = 0; i < V; ++i) {
      const double d = std::fabs(double(p[i]) - double(q[i]));
      // A NaN on either side is the largest difference there is, not one std::max would skip.
      r.max_abs = std::max(r.max_abs, std::isnan(d) ? std::numeric_limits<double>::infinity() : d);
    }
    if (std::max_element(p, p + V) - p == std::max_element(q, q + V) - q) ++r.top1;
    auto log_softmax = [V](const float* x, std::vector<double>& out) {
      const double mx = *std::max_element(x, x + V);
      double sum = 0;
      for (int64_t i = 0; i < V; ++i) sum += std::exp(double(x[i]) - mx);
      const double lse = mx + std::log(sum);
      for (int64_t i = 0; i < V; ++i) out[size_t(i)] = double(x[i]) - lse;
    };
    log_softmax(p, lp);
    log_softmax(q, lq);
    double kl = 0;
    for (int64_t i = 0; i < V; ++i) kl += std::exp(lp[size_t(i)]) * (lp[size_t(i)] - lq[size_t(i)]);
    r.mean_kl += kl / double(T);
  }
  return r;
}

// What a GGUF file cannot show: the engine computes in float32 on its stored weights only (a native
// file states its activation scales and KV scheme, which the engine applies).
std::string engine_gaps(const std::optional<ResolvedRecipe>& rr, bool native) {
  if (!rr || native) return "";
  std::string what;
  if (rr->has_static_activations()) what = "activations";
  if (rr->kv_cache) what += std::string(what.empty() ? "" : " and ") + "the KV cache";
  if (what.empty()) return "";
  return "; warning: recipe " + rr->name + " quantizes " + what +
         ", which the engine does not yet: the figures include that difference";
}

void check_same_shape(const ValidateArgs& a, const Gemma4Config& file, const Gemma4Config& model) {
  if (file.vocab_size != model.vocab_size || file.hidden_size != model.hidden_size || file.L() != model.L())
    throw FormatError(a.file + ": vocab " + std::to_string(file.vocab_size) + ", hidden " + std::to_string(file.hidden_size) +
                      ", " + std::to_string(file.L()) + " layers; " + a.against + ": vocab " + std::to_string(model.vocab_size) +
                      ", hidden " + std::to_string(model.hidden_size) + ", " + std::to_string(model.L()) +
                      " layers: not an export of this model");
}

}  // namespace

void add_validate_command(CLI::App& app) {
  auto a = std::make_shared<ValidateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Compare an exported GGUF or native file (on the reference engine) with the model it exports: logits and greedy tokens");
  cmd->add_option("EXPORT", a->file, "the exported .gguf or .gqn file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--against", a->against, std::string("the model it should match: ") + kModelHelp)->required();
  CLI::Option* ids = cmd->add_option("--ids", a->ids, "comma-separated token ids (default: a fixed sequence of 32)");
  cmd->add_option("--data", a->data, "text file/folder, .jsonl or .ids: its first 128 tokens")->excludes(ids);
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer for --data (default: the model's own)");
  cmd->add_option("--tolerance", a->tolerance, "largest max |Δlogit| accepted (default 1e-3)")
      ->check(CLI::NonNegativeNumber);
  add_threads_option(cmd, a->threads);
  add_quant_args(cmd, a->quant);
  cmd->callback([a] {
    set_torch_threads(a->threads);
    engine::set_engine_threads(a->threads);
    const bool native = engine::is_native_path(a->file);
    if (!native && (a->file.size() < 5 || a->file.compare(a->file.size() - 5, 5, ".gguf") != 0))
      throw FormatError(a->file + ": EXPORT must be a .gguf or .gqn file (the engine reads GGUF and native exports)");
    const engine::ModelWeights w = native ? engine::load_native(a->file) : engine::ModelWeights::load_gguf(a->file);
    Gemma4Model model = load_model(a->against);
    const std::optional<ResolvedRecipe> rr = apply_quant_args(model, a->quant, a->against);
    const Gemma4Config& c = model->config();
    check_same_shape(*a, w.config(), c);

    std::vector<int64_t> tokens = !a->ids.empty() ? parse_ids(a->ids) : !a->data.empty() ? data_tokens(*a, c) : default_tokens(c);
    const int64_t limit = std::min(id_limit(c), id_limit(w.config()));
    for (int64_t id : tokens)
      if (id >= limit)
        throw FormatError("token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(limit) + ")");
    const std::vector<int32_t> tokens32(tokens.begin(), tokens.end());
    const int64_t T = int64_t(tokens.size()), V = c.vocab_size;

    at::NoGradGuard ng;
    const at::Tensor want = model->forward(at::tensor(tokens, at::kLong).unsqueeze(0)).logits[0].contiguous();
    const std::vector<float> got = engine::logits(w, tokens32);
    const Comparison r = compare(want.data_ptr<float>(), got, T, V);

    // Both greedy from the whole sequence with EOS banned (as generate --ignore-eos), so each
    // side makes all kGreedyTokens and the first disagreement is where they part.
    GreedyOptions opt;
    opt.banned = {c.eos_token_id};
    const std::vector<int64_t> g_model = greedy_generate(model, tokens, kGreedyTokens, opt);
    const std::vector<int32_t> g_file = engine::greedy(w, tokens32, kGreedyTokens, false, {int32_t(c.eos_token_id)});
    size_t agree = 0;
    while (agree < g_model.size() && agree < g_file.size() && g_model[agree] == int64_t(g_file[agree])) ++agree;
    const std::string greedy_text = agree == size_t(kGreedyTokens)
                                        ? std::to_string(kGreedyTokens) + "/" + std::to_string(kGreedyTokens)
                                        : "diverges at token " + std::to_string(agree) + " of " + std::to_string(kGreedyTokens);

    char delta[64], rest[256], tol[64];
    std::snprintf(delta, sizeof delta, "max |Δlogit| %.3g", r.max_abs);
    std::snprintf(rest, sizeof rest, "mean KL(model || file) %.3g nats/token, top-1 agreement %lld/%lld, greedy %s", r.mean_kl,
                  (long long)r.top1, (long long)r.positions, greedy_text.c_str());
    std::snprintf(tol, sizeof tol, "%.3g", a->tolerance);
    const std::string against = a->against + (rr ? " (" + rr->name + ")" : "");
    const std::string gaps = engine_gaps(rr, native);
    std::printf("%s vs %s over %lld tokens: %s, %s%s\n", a->file.c_str(), against.c_str(), (long long)T, delta, rest,
                gaps.c_str());
    std::fflush(stdout);
    if (!(r.max_abs <= a->tolerance))
      throw FormatError(a->file + " does not match " + against + ": " + delta + " exceeds --tolerance " + tol + " (" + rest +
                        ")" + gaps);
  });
}

GQ_REGISTER_COMMAND(add_validate_command);

}  // namespace gq::cli
