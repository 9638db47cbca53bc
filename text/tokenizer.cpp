#include "text/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/error.h"
#include "text/hf_tokenizer.h"
#include "text/spm_tokenizer.h"

namespace gq {

namespace fs = std::filesystem;

namespace {

// A tokenizer.json starts with '{'; a SentencePiece model is a protobuf, which never does.
bool looks_like_json(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FormatError(path + ": cannot open");
  char c;
  while (f.get(c))
    if (!std::isspace(static_cast<unsigned char>(c))) return c == '{';
  return false;
}

std::unique_ptr<Tokenizer> load_hf(const fs::path& json) {
  // tokenizer_config.json beside a tokenizer.json names bos/eos/pad (transformers reads both).
  const fs::path config = json.parent_path() / "tokenizer_config.json";
  const bool use_config = json.filename() == "tokenizer.json" && fs::is_regular_file(config);
  return HfTokenizer::load(json.string(), use_config ? config.string() : "");
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  const fs::path p(path);
  if (fs::is_directory(p)) {
    if (fs::is_regular_file(p / "tokenizer.json")) return load_hf(p / "tokenizer.json");
    if (fs::is_regular_file(p / "tokenizer.model")) return SpmTokenizer::load((p / "tokenizer.model").string());
    throw FormatError(path + ": folder has neither tokenizer.json nor tokenizer.model");
  }
  if (!fs::exists(p)) throw FormatError(path + ": no such file or folder");
  if (looks_like_json(path)) return load_hf(p);
  return SpmTokenizer::load(path);
}

std::unique_ptr<Tokenizer> tokenizer_from_bytes(const std::string& json_bytes, const std::string& model_bytes,
                                                const std::string& source) {
  if (!json_bytes.empty()) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(json_bytes);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(source + ": tokenizer.json: not valid JSON: " + e.what());
    }
    return HfTokenizer::from_json(std::move(j), nlohmann::json(), source + ": tokenizer.json", "");
  }
  if (!model_bytes.empty()) return SpmTokenizer::from_bytes(model_bytes, source + ": tokenizer.model");
  throw FormatError(source + ": carries no tokenizer");
}

}  // namespace gq
