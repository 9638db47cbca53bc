// `run`: text in, streamed text out, on the reference engine with the file's own tokenizer and, where
// it has one, Gemma's chat turn format (text/chat_format.h; no Jinja engine).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "cli/data_setup.h"
#include "cli/engine_file.h"
#include "cli/model_setup.h"
#include "cli/options.h"
#include "engine/decode.h"
#include "engine/gguf_tokenizer.h"
#include "engine/native_weights.h"
#include "engine/thread_pool.h"
#include "formats/gguf.h"
#include "io/error.h"
#include "qat/checkpoint_loader.h"
#include "qat/generate.h"
#include "qat/torch_threads.h"
#include "run/run_folder.h"
#include "text/chat_format.h"
#include "text/chat_template_file.h"
#include "text/stream_decoder.h"
#include "text/tokenizer.h"

namespace gq::cli {
namespace {

struct RunArgs {
  std::string file, prompt, system, tokenizer;
  QuantArgs quant;
  int n = 64, threads = 0;
  bool chat = false, raw = false, exact = false, print_prompt_tokens = false;
};

// The model with the tokenizer and chat template that travel with it: an engine file's weights, or
// a checkpoint / run folder's LibTorch model (its fake-quant ops where it is a QAT run).
struct LoadedModel {
  std::unique_ptr<engine::ModelWeights> weights;  // a .gguf or .gqn
  Gemma4Model torch_model{nullptr};               // a folder
  std::unique_ptr<Tokenizer> tokenizer;
  std::string chat_template;  // "" if the file carries none
  std::string mode;           // for the rate line: "fast mode", "exact mode", "LibTorch, recipe q4_0"

  const Gemma4Config& config() const { return weights ? weights->config() : torch_model->config(); }
};

LoadedModel load_folder(const RunArgs& a) {
  if (a.exact) throw FormatError(a.file + ": --exact chooses the reference engine's mode and applies to .gguf and .gqn files only");
  set_torch_threads(a.threads);
  LoadedModel m;
  m.torch_model = load_model(a.file);
  const std::optional<ResolvedRecipe> recipe = apply_quant_args(m.torch_model, a.quant, a.file);
  m.mode = recipe ? "LibTorch, recipe " + recipe->name : "LibTorch";
  m.chat_template = chat_template_in_folder(run_folder::checkpoint_dir(a.file));
  if (a.tokenizer.empty()) {
    const std::string file = run_folder::tokenizer_file(a.file);
    if (file.empty())
      throw FormatError(a.file + ": no tokenizer.json or tokenizer.model in the checkpoint: name one with --tokenizer PATH");
    m.tokenizer = load_tokenizer(file);
  }
  return m;
}

LoadedModel load(const RunArgs& a) {
  std::error_code ec;
  if (!std::filesystem::exists(a.file, ec)) throw FormatError(a.file + ": no such file");
  LoadedModel m;
  if (std::filesystem::is_directory(a.file, ec)) {
    m = load_folder(a);
  } else if (!is_engine_file(a.file)) {
    throw FormatError(a.file + ": run takes a .gguf or .gqn file, or a checkpoint or run folder");
  } else {
    if (!a.quant.recipe.empty() || !a.quant.calib.empty())
      throw FormatError(a.file + ": --recipe / --calib apply to checkpoints and runs; a GGUF or native file is run as it is");
    const engine::WeightForm form = decoding_form(a.exact);
    m.weights = std::make_unique<engine::ModelWeights>(load_engine_file(a.file, form, a.threads));
    m.mode = form == engine::WeightForm::Exact ? "exact mode" : "fast mode";
    if (engine::is_native_path(a.file)) {
      const native::NativeFile file = native::NativeFile::open(a.file);
      const native::Metadata& meta = file.metadata();
      if (a.tokenizer.empty() && meta.tokenizer_json.empty() && meta.tokenizer_model.empty())
        throw FormatError(a.file + ": the native file carries no tokenizer: name one with --tokenizer PATH");
      if (a.tokenizer.empty()) m.tokenizer = tokenizer_from_bytes(meta.tokenizer_json, meta.tokenizer_model, a.file);
    } else {
      const GgufFile file = GgufFile::open(a.file);
      m.chat_template = engine::gguf_chat_template(file);
      if (a.tokenizer.empty()) m.tokenizer = engine::gguf_tokenizer(file);
    }
  }
  if (!a.tokenizer.empty()) m.tokenizer = load_tokenizer(tokenizer_for(a.tokenizer, ""));
  if (m.tokenizer->vocab_size() > m.config().vocab_size)
    throw FormatError(m.tokenizer->describe() + ": " + std::to_string(m.tokenizer->vocab_size()) + " tokens, but " + a.file +
                      " has a vocabulary of " + std::to_string(m.config().vocab_size));
  return m;
}

// Greedy decoding on whichever model was loaded: the engine's KV-cache loop, or LibTorch's.
void greedy_stream(const LoadedModel& m, const std::vector<TokenId>& prompt, int n, const std::function<bool(int32_t)>& on_token) {
  if (m.weights) return engine::greedy_each(*m.weights, prompt, n, {}, on_token);
  GreedyOptions opt;
  opt.on_token = [&](int64_t id) { return on_token(int32_t(id)); };
  Gemma4Model model = m.torch_model;
  greedy_generate(model, std::vector<int64_t>(prompt.begin(), prompt.end()), n, opt);
}

// --chat / --raw / the default: the file's template if it is Gemma's, else Gemma's turn tokens in the
// vocabulary (a Gemma chat model without a template), else raw; an unrecognised template warns.
ChatFormat choose_format(const RunArgs& a, const LoadedModel& f) {
  if (a.raw) return ChatFormat::None;
  ChatFormat fmt = recognise_chat_template(f.chat_template);
  if (fmt == ChatFormat::None && !f.chat_template.empty()) {
    if (a.chat)
      throw FormatError(a.file + ": tokenizer.chat_template is not Gemma's turn format; --chat formats Gemma's only (use --raw)");
    std::cerr << "gemma-qat: warning: " << a.file
              << ": its chat template is not Gemma's turn format (not rendered: no Jinja engine); the prompt is used raw\n";
    return ChatFormat::None;
  }
  if (fmt == ChatFormat::None) fmt = chat_format_of_vocabulary(*f.tokenizer);
  if (fmt != ChatFormat::None && end_of_turn_id(fmt, *f.tokenizer) < 0)
    throw FormatError(f.tokenizer->describe() + ": the " + chat_format_name(fmt) + " chat template's turn tokens are not in the vocabulary");
  if (a.chat && fmt == ChatFormat::None)
    throw FormatError(a.file + ": --chat: the file has no chat template and its vocabulary no Gemma turn tokens (<|turn>/<turn|>, "
                      "<start_of_turn>/<end_of_turn>)");
  return fmt;
}

void run(const RunArgs& a) {
  if (a.raw && !a.system.empty()) throw FormatError("--system: a system turn needs the chat format (drop --raw)");
  const LoadedModel f = load(a);
  const Tokenizer& tok = *f.tokenizer;
  const ChatFormat fmt = choose_format(a, f);
  if (fmt == ChatFormat::None && !a.system.empty())
    throw FormatError("--system: " + a.file + " has no chat format to put a system turn in");
  const std::string text = fmt == ChatFormat::None ? a.prompt : format_chat_prompt(fmt, a.system, a.prompt);
  std::vector<TokenId> prompt;
  try {
    prompt = tok.encode(text, true);
  } catch (const FormatError& e) {
    throw FormatError(std::string("--prompt: ") + e.what());
  }
  if (prompt.empty()) throw FormatError("--prompt: empty, and the tokenizer adds no BOS: nothing to continue");
  if (a.print_prompt_tokens) {
    for (size_t i = 0; i < prompt.size(); ++i) std::cout << (i ? " " : "") << prompt[i];
    std::cout << "\n";
    return;
  }

  // Stops: EOS (the tokenizer's and the config's) and the end of a turn, never printed.
  std::vector<TokenId> stops = {tok.eos_id(), TokenId(f.config().eos_token_id)};
  for (const TokenId id : turn_stop_ids(fmt == ChatFormat::None ? chat_format_of_vocabulary(tok) : fmt, tok)) stops.push_back(id);
  const size_t context = std::min<size_t>(prompt.size(), 4);  // enough for the decoder to see the first new piece in place
  StreamDecoder stream(tok, std::vector<TokenId>(prompt.end() - long(context), prompt.end()));
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto t_first = t0, t_last = t0;
  int generated = 0;
  greedy_stream(f, prompt, a.n, [&](int32_t id) {
    t_last = clock::now();
    if (generated++ == 0) t_first = t_last;
    for (const TokenId s : stops)
      if (s >= 0 && id == s) return false;
    std::cout << stream.push(id) << std::flush;
    return true;
  });
  std::cout << stream.finish() << "\n" << std::flush;

  const double prefill_s = std::chrono::duration<double>(t_first - t0).count();
  const double decode_s = std::chrono::duration<double>(t_last - t_first).count();
  char line[256];
  std::snprintf(line, sizeof line, "gemma-qat: %zu prompt tokens in %.3f s (%.1f tokens/s), %d new tokens: %.1f tokens/s (%s%s)\n",
                prompt.size(), prefill_s, prefill_s > 0 ? double(prompt.size()) / prefill_s : 0.0, generated,
                decode_s > 0 ? double(generated - 1) / decode_s : 0.0,
                f.mode.c_str(),
                fmt == ChatFormat::None ? ", raw prompt" : (std::string(", ") + chat_format_name(fmt) + " chat").c_str());
  std::cerr << line;
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Text in, streamed text out: greedy decoding of --prompt (a .gguf / .gqn on the reference engine, a folder "
             "on LibTorch) with the model's tokenizer and, where it has one, Gemma's chat format");
  cmd->add_option("FILE", a->file, "a .gguf or .gqn file, or a checkpoint or run folder (its tokenizer beside it)")->required();
  cmd->add_option("--prompt", a->prompt, "the prompt text (the user turn, in chat format)")->required();
  cmd->add_option("-n,--new-tokens", a->n, "most tokens to generate (stops earlier at EOS or the end of the turn)")
      ->check(CLI::Range(1, 1 << 20));
  CLI::Option* chat = cmd->add_flag("--chat", a->chat, "format the prompt as a chat turn (the default where the file has Gemma's template or turn tokens)");
  cmd->add_flag("--raw", a->raw, "use the prompt as it is, without the chat format")->excludes(chat);
  cmd->add_option("--system", a->system, "a system turn before the prompt (chat format only)");
  cmd->add_option("--tokenizer", a->tokenizer, "a tokenizer file or folder instead of the file's own");
  cmd->add_flag("--exact", a->exact, "a .gguf or .gqn file: the engine's exact mode (float32 on the dequantized weights) instead of fast");
  cmd->add_flag("--print-prompt-tokens", a->print_prompt_tokens, "print the prompt's token ids (after the chat format) and stop");
  add_quant_args(cmd, a->quant);
  add_threads_option(cmd, a->threads);
  cmd->callback([a] { run(*a); });
}

GQ_REGISTER_COMMAND(add_run_command);

}  // namespace gq::cli
