// `run`: text in, streamed text out, on the reference engine with the file's own tokenizer and, where
// it has one, Gemma's chat turn format (text/chat_format.h; no Jinja engine).
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/engine_file.h"
#include "cli/options.h"
#include "engine/decode.h"
#include "engine/gguf_tokenizer.h"
#include "engine/native_weights.h"
#include "engine/thread_pool.h"
#include "formats/gguf.h"
#include "io/error.h"
#include "text/chat_format.h"
#include "text/stream_decoder.h"
#include "text/tokenizer.h"

namespace gq::cli {
namespace {

struct RunArgs {
  std::string file, prompt, system, tokenizer;
  int n = 64, threads = 0;
  bool chat = false, raw = false, exact = false, print_prompt_tokens = false;
};

// The model with the tokenizer and chat template that travel with it.
struct LoadedFile {
  std::unique_ptr<engine::ModelWeights> weights;
  std::unique_ptr<Tokenizer> tokenizer;
  std::string chat_template;  // "" if the file carries none
};

LoadedFile load(const RunArgs& a) {
  std::error_code ec;
  if (!std::filesystem::exists(a.file, ec)) throw FormatError(a.file + ": no such file");
  if (!is_engine_file(a.file))
    throw FormatError(a.file + ": run takes a .gguf or .gqn file (the reference engine); for a checkpoint or run, "
                      "export it first (gemma-qat export RUN --format gguf, or convert HF_DIR --to gguf)");
  LoadedFile f;
  const engine::WeightForm form = a.exact ? engine::WeightForm::Exact : engine::WeightForm::Fast;
  if (engine::is_native_path(a.file)) {
    engine::set_engine_threads(a.threads);
    const native::NativeFile file = native::NativeFile::open(a.file);
    f.weights = std::make_unique<engine::ModelWeights>(engine::from_native(file));
    const native::Metadata& m = file.metadata();
    if (a.tokenizer.empty() && m.tokenizer_json.empty() && m.tokenizer_model.empty())
      throw FormatError(a.file + ": the native file carries no tokenizer: name one with --tokenizer PATH");
    if (a.tokenizer.empty()) f.tokenizer = tokenizer_from_bytes(m.tokenizer_json, m.tokenizer_model, a.file);
  } else {
    f.weights = std::make_unique<engine::ModelWeights>(load_engine_file(a.file, form, a.threads));
    const GgufFile file = GgufFile::open(a.file);
    f.chat_template = engine::gguf_chat_template(file);
    if (a.tokenizer.empty()) f.tokenizer = engine::gguf_tokenizer(file);
  }
  if (!a.tokenizer.empty()) f.tokenizer = load_tokenizer(a.tokenizer);
  if (f.tokenizer->vocab_size() > f.weights->config().vocab_size)
    throw FormatError(f.tokenizer->describe() + ": " + std::to_string(f.tokenizer->vocab_size()) + " tokens, but " + a.file +
                      " has a vocabulary of " + std::to_string(f.weights->config().vocab_size));
  return f;
}

// --chat / --raw / the default: the file's template if it is Gemma's, else Gemma's turn tokens in the
// vocabulary (a Gemma chat model without a template), else raw; an unrecognised template warns.
ChatFormat choose_format(const RunArgs& a, const LoadedFile& f) {
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
  const LoadedFile f = load(a);
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
  std::vector<TokenId> stops = {tok.eos_id(), TokenId(f.weights->config().eos_token_id)};
  stops.push_back(end_of_turn_id(fmt == ChatFormat::None ? chat_format_of_vocabulary(tok) : fmt, tok));
  const size_t context = std::min<size_t>(prompt.size(), 4);  // enough for the decoder to see the first new piece in place
  StreamDecoder stream(tok, std::vector<TokenId>(prompt.end() - long(context), prompt.end()));
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto t_first = t0, t_last = t0;
  int generated = 0;
  engine::greedy_each(*f.weights, prompt, a.n, {}, [&](int32_t id) {
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
  std::snprintf(line, sizeof line, "gemma-qat: %zu prompt tokens in %.3f s (%.1f tokens/s), %d new tokens: %.1f tokens/s (%s mode%s)\n",
                prompt.size(), prefill_s, prefill_s > 0 ? double(prompt.size()) / prefill_s : 0.0, generated,
                decode_s > 0 ? double(generated - 1) / decode_s : 0.0,
                a.exact || engine::is_native_path(a.file) ? "exact" : "fast",
                fmt == ChatFormat::None ? ", raw prompt" : (std::string(", ") + chat_format_name(fmt) + " chat").c_str());
  std::cerr << line;
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Text in, streamed text out: greedy decoding of --prompt on the reference engine with the file's tokenizer "
             "and, where it has one, Gemma's chat format");
  cmd->add_option("FILE", a->file, "a .gguf or .gqn file")->required();
  cmd->add_option("--prompt", a->prompt, "the prompt text (the user turn, in chat format)")->required();
  cmd->add_option("-n,--new-tokens", a->n, "most tokens to generate (stops earlier at EOS or the end of the turn)")
      ->check(CLI::Range(1, 1 << 20));
  CLI::Option* chat = cmd->add_flag("--chat", a->chat, "format the prompt as a chat turn (the default where the file has Gemma's template or turn tokens)");
  cmd->add_flag("--raw", a->raw, "use the prompt as it is, without the chat format")->excludes(chat);
  cmd->add_option("--system", a->system, "a system turn before the prompt (chat format only)");
  cmd->add_option("--tokenizer", a->tokenizer, "a tokenizer file or folder instead of the file's own");
  cmd->add_flag("--exact", a->exact, "a .gguf file: the engine's exact mode (float32 on the dequantized weights) instead of fast");
  cmd->add_flag("--print-prompt-tokens", a->print_prompt_tokens, "print the prompt's token ids (after the chat format) and stop");
  add_threads_option(cmd, a->threads);
  cmd->callback([a] { run(*a); });
}

GQ_REGISTER_COMMAND(add_run_command);

}  // namespace gq::cli
