// `tokenize`: text to ids (and back) with any tokenizer the project reads, one output line per input
// line, so that shell tools and the parity tests can diff it against other implementations.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/data_setup.h"
#include "io/error.h"
#include "text/corpus.h"
#include "text/tokenizer.h"

namespace gq::cli {
namespace {

struct TokenizeArgs {
  std::string tokenizer, text;
  bool add_special = false, decode = false, jsonl = false, stats = false;
};

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FormatError(path + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// JSONL lines are a JSON string or an object with a "text" string (the data pipeline's format).
std::string jsonl_text(const std::string& line) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception&) {
    throw FormatError("not a JSON value");
  }
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("text") && j["text"].is_string()) return j["text"].get<std::string>();
  throw FormatError("expected a JSON string or an object with a \"text\" string");
}

std::vector<TokenId> parse_id_line(const std::string& line, int32_t vocab_size) {
  std::vector<TokenId> ids;
  std::istringstream in(line);
  std::string tok;
  while (in >> tok) {
    char* end = nullptr;
    const long v = std::strtol(tok.c_str(), &end, 10);
    if (*end != '\0' || v < 0 || v >= vocab_size)
      throw FormatError("'" + tok + "' is not a token id in [0, " + std::to_string(vocab_size) + ")");
    ids.push_back(TokenId(v));
  }
  return ids;
}

void run(const TokenizeArgs& a) {
  const std::string input = read_all(a.text);  // before the tokenizer: a wrong path fails at once
  const auto t0 = std::chrono::steady_clock::now();
  const std::unique_ptr<Tokenizer> tok = load_tokenizer(tokenizer_for(a.tokenizer, ""));
  const auto t1 = std::chrono::steady_clock::now();

  std::string out;
  out.reserve(1 << 20);
  size_t lines = 0, tokens = 0;
  auto flush = [&] {
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) throw FormatError("stdout: write failed");
    out.clear();
  };
  for (size_t begin = 0; begin < input.size();) {
    size_t end = input.find('\n', begin);
    if (end == std::string::npos) end = input.size();
    const std::string line = decode_text_line(std::string_view(input).substr(begin, end - begin));
    begin = end + 1;
    ++lines;
    try {
      if (a.decode) {
        const std::vector<TokenId> ids = parse_id_line(line, tok->vocab_size());
        tokens += ids.size();
        const std::string text = tok->decode(ids);
        out += a.jsonl ? nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : text;
      } else {
        const std::vector<TokenId> ids = tok->encode(a.jsonl ? jsonl_text(line) : line, a.add_special);
        tokens += ids.size();
        for (size_t i = 0; i < ids.size(); ++i) {
          if (i) out += ' ';
          out += std::to_string(ids[i]);
        }
      }
    } catch (const FormatError& e) {
      throw FormatError(a.text + ":" + std::to_string(lines) + ": " + e.what());
    }
    out += '\n';
    if (out.size() > (1 << 20)) flush();
  }
  flush();
  std::fflush(stdout);
  if (a.stats) {
    const double load_s = std::chrono::duration<double>(t1 - t0).count();
    const double run_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    std::fprintf(stderr, "%s\n%zu lines, %zu tokens, %zu bytes; load %.2f s, %s %.2f s (%.0f tokens/s, %.2f MB/s)\n",
                 tok->describe().c_str(), lines, tokens, input.size(), load_s, a.decode ? "decode" : "encode", run_s,
                 double(tokens) / run_s, double(input.size()) / run_s / 1e6);
  }
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto a = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Token ids of each line of a text file, or text from ids with --decode");
  cmd->add_option("TOKENIZER_OR_MODEL", a->tokenizer,
                  "a tokenizer.json, a SentencePiece .model, or a checkpoint or run folder holding one")
      ->required();
  cmd->add_option("--text", a->text,
                  "input file: one text per line (ids with --decode); a line that is not valid UTF-8 is read as Latin-1")
      ->required();
  cmd->add_flag("--add-special", a->add_special, "add the tokenizer's special tokens (BOS for Gemma)");
  cmd->add_flag("--decode", a->decode, "lines hold space-separated ids; print their text");
  cmd->add_flag("--jsonl", a->jsonl,
                "texts are JSON (a string or {\"text\": ...} per line), so they may hold newlines; --decode prints JSON strings");
  cmd->add_flag("--stats", a->stats, "print lines, tokens and speed to stderr");
  cmd->callback([a] { run(*a); });
}

GQ_REGISTER_COMMAND(add_tokenize_command);

}  // namespace gq::cli
