#include "io/text_file.h"
#include "export/gguf_vocab.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_set>

#include "export/gguf_vocab_spm.h"
#include "io/error.h"
#include "text/chat_template_file.h"

namespace gq {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kSpace = "\xe2\x96\x81";  // U+2581 "▁", SentencePiece's space

json read_json(const fs::path& p) {
  try {
    return json::parse(read_text_file(p.string()));
  } catch (const json::exception& e) {
    throw FormatError(p.string() + ": malformed JSON: " + e.what());
  }
}

bool is_byte_token(const std::string& s) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); };
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && hex(s[3]) && hex(s[4]) && s[5] == '>';
}

// Position of the last UTF-8 code point of a non-empty string.
size_t last_code_point(const std::string& s) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xc0) == 0x80) --i;
  return i;
}

// A special token named in tokenizer_config.json ("<bos>" or {"content": "<bos>", ...}).
std::optional<std::string> special_content(const json& cfg, const char* key) {
  if (!cfg.is_object() || !cfg.contains(key)) return std::nullopt;
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

GgufVocab load_hf_vocab(const std::string& dir_str, const Gemma4Config& cfg) {
  const fs::path dir(dir_str);
  const fs::path path = dir / "tokenizer.json";
  const std::string src = path.string();
  const json root = read_json(path);
  if (!root.is_object() || !root.contains("model") || !root["model"].is_object())
    throw FormatError(src + ": model: missing (not a Hugging Face tokenizer.json?)");
  const json& model = root["model"];
  if (model.value("type", "") != "BPE" || !model.value("byte_fallback", false))
    throw FormatError(src + ": model: not a byte-fallback BPE tokenizer (Gemma's tokenizer is one; type '" +
                      model.value("type", "?") + "')");
  if (!model.contains("vocab") || !model["vocab"].is_object()) throw FormatError(src + ": model.vocab: expected an object");

  GgufVocab v;
  v.source = src;
  std::map<int64_t, std::string> by_id;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer()) throw FormatError(src + ": model.vocab['" + it.key() + "']: expected an integer id");
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || !by_id.emplace(id, it.key()).second)
      throw FormatError(src + ": model.vocab: id " + std::to_string(id) + " is negative or used twice");
  }
  std::map<int64_t, bool> added;  // id -> special
  if (root.contains("added_tokens") && root["added_tokens"].is_array()) {
    for (const json& a : root["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string())
        throw FormatError(src + ": added_tokens: every entry needs an integer id and a string content");
      const int64_t id = a["id"].get<int64_t>();
      if (id < 0) throw FormatError(src + ": added_tokens: negative id " + std::to_string(id));
      by_id[id] = a["content"].get<std::string>();
      added[id] = a.value("special", false);
    }
  }
  const int64_t n = by_id.empty() ? 0 : by_id.rbegin()->first + 1;
  if (int64_t(by_id.size()) != n) {
    int64_t gap = 0;
    while (by_id.count(gap)) ++gap;
    throw FormatError(src + ": token id " + std::to_string(gap) + " is missing (ids must be 0.." + std::to_string(n - 1) + ")");
  }
  if (n > cfg.vocab_size)
    throw FormatError(src + ": " + std::to_string(n) + " tokens, but the model's vocab_size is " + std::to_string(cfg.vocab_size));

  // llama.cpp's converter renders these added tokens as text so that its chat parser can read them.
  static const std::set<std::string> visible = {"<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>",
                                                "<|tool_response>", "<tool_response|>", "<|\"|>"};
  for (const auto& [id, text] : by_id) {
    int32_t type = kTokNormal;
    auto a = added.find(id);
    if (visible.count(text)) type = kTokUserDefined;
    else if (is_byte_token(text)) type = kTokByte;
    else if (a != added.end()) type = a->second ? kTokControl : kTokUserDefined;
    v.tokens.push_back(text);
    v.types.push_back(type);
  }
  if (n < cfg.vocab_size) {
    v.warnings.push_back(src + ": " + std::to_string(n) + " tokens for vocab_size " + std::to_string(cfg.vocab_size) +
                         ": padded with [PAD<id>] tokens (as llama.cpp's converter does)");
    for (int64_t id = n; id < cfg.vocab_size; ++id) {
      v.tokens.push_back("[PAD" + std::to_string(id) + "]");
      v.types.push_back(kTokUnused);
    }
  }
  v.scores.assign(v.tokens.size(), -1000.0f);

  if (!model.contains("merges") || !model["merges"].is_array() || model["merges"].empty())
    throw FormatError(src + ": model.merges: missing or empty (llama.cpp's gemma4 tokenizer requires merges)");
  for (const json& m : model["merges"]) {
    if (m.is_string()) v.merges.push_back(m.get<std::string>());
    else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
      v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    else throw FormatError(src + ": model.merges: expected \"a b\" strings or [a, b] pairs");
  }

  // Special ids: tokenizer_config.json names them; config.json's ids are the fallback.
  const fs::path tc_path = dir / "tokenizer_config.json";
  std::error_code ec;
  const json tc = fs::is_regular_file(tc_path, ec) ? read_json(tc_path) : json::object();
  std::map<std::string, int64_t> id_of;
  for (size_t i = 0; i < v.tokens.size(); ++i) id_of.emplace(v.tokens[i], int64_t(i));
  auto lookup = [&](const char* key, int64_t fallback) {
    if (auto c = special_content(tc, key)) {
      auto it = id_of.find(*c);
      if (it == id_of.end()) throw FormatError(tc_path.string() + ": " + key + " '" + *c + "' is not in the vocabulary");
      return it->second;
    }
    return fallback;
  };
  v.bos = lookup("bos_token", cfg.bos_token_id);
  v.eos = lookup("eos_token", cfg.eos_token_id);
  v.pad = lookup("pad_token", cfg.pad_token_id);
  int64_t unk = -1;
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    auto it = id_of.find(model["unk_token"].get<std::string>());
    if (it != id_of.end()) unk = it->second;
  }
  if (unk < 0 && id_of.count("<unk>")) unk = id_of["<unk>"];
  v.unk = lookup("unk_token", unk);
  v.chat_template = chat_template_of(dir.string(), tc, tc_path.string());
  return v;
}

GgufVocab synthesize_vocab(const Gemma4Config& cfg) {
  const int64_t V = cfg.vocab_size;
  if (V < 8 + 256)
    throw FormatError(cfg.source + ": vocab_size " + std::to_string(V) +
                      " is too small for a synthesized gemma4 vocabulary (5 specials + 256 byte tokens + text)");
  GgufVocab v;
  v.source = "synthesized";
  v.bos = cfg.bos_token_id, v.eos = cfg.eos_token_id, v.pad = cfg.pad_token_id, v.unk = 3;
  v.tokens.assign(size_t(V), "");
  v.types.assign(size_t(V), 0);
  const std::vector<std::pair<int64_t, std::string>> specials = {
      {v.pad, "<pad>"}, {v.eos, "<eos>"}, {v.bos, "<bos>"}, {3, "<unk>"}, {4, "<mask>"}};
  for (const auto& [id, text] : specials)
    if (id >= 0 && id < V) v.tokens[size_t(id)] = text, v.types[size_t(id)] = kTokControl;

  size_t n_free = 0;
  for (int64_t i = 0; i < V; ++i) n_free += v.types[size_t(i)] == 0;
  std::vector<std::string> fill;
  std::vector<int32_t> fill_t;
  fill.reserve(n_free), fill_t.reserve(n_free);  // fresh pages are a conversion's setup (convert_bench)
  char buf[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    fill.push_back(buf);
    fill_t.push_back(kTokByte);
  }
  const std::string letters = "abcdefghijklmnopqrstuvwxyz";
  auto normal = [&](std::string s) { fill.push_back(std::move(s)), fill_t.push_back(kTokNormal); };
  normal("\n");
  normal(kSpace);
  for (char c : letters) normal(kSpace + c);
  for (char c : letters) normal(std::string(1, c));
  for (int64_t k = 0; fill.size() < n_free; ++k)
    normal(kSpace + letters[size_t(k % 26)] + letters[size_t((k / 26) % 26)] + (k < 676 ? "" : std::to_string(k / 676)));
  size_t f = 0;
  for (int64_t i = 0; i < V; ++i)
    if (v.types[size_t(i)] == 0) v.tokens[size_t(i)] = std::move(fill[f]), v.types[size_t(i)] = fill_t[f], ++f;

  // Views of the tokens, hashed: a std::set of copies was most of a conversion's setup (convert_bench).
  std::unordered_set<std::string_view> present;
  present.reserve(v.tokens.size());
  present.insert(v.tokens.begin(), v.tokens.end());
  for (const std::string& s : v.tokens) {
    if (s.compare(0, kSpace.size(), kSpace) != 0 || s.size() <= kSpace.size()) continue;
    const size_t cut = last_code_point(s);
    const std::string_view a = std::string_view(s).substr(0, cut), b = std::string_view(s).substr(cut);
    if (present.count(a) && present.count(b)) v.merges.push_back(std::string(a) + " " + std::string(b));
  }
  if (v.merges.empty())
    throw FormatError(cfg.source + ": vocab_size " + std::to_string(V) + " leaves no room for a merge in a synthesized vocabulary");
  v.scores.assign(size_t(V), -1000.0f);
  return v;
}

GgufVocab gemma4_vocab(const std::string& dir, const Gemma4Config& cfg) {
  std::error_code ec;
  if (fs::is_directory(dir, ec) && fs::is_regular_file(fs::path(dir) / "tokenizer.json", ec)) return load_hf_vocab(dir, cfg);
  if (fs::is_directory(dir, ec) && fs::is_regular_file(fs::path(dir) / "tokenizer.model", ec))
    return load_spm_vocab((fs::path(dir) / "tokenizer.model").string(), cfg);
  return synthesize_vocab(cfg);
}

std::vector<std::pair<std::string, GgufValue>> vocab_metadata(const GgufVocab& v) {
  const int64_t n = int64_t(v.tokens.size());
  auto id = [&](const char* what, int64_t x) {
    if (x < 0 || x >= n)
      throw FormatError(v.source + ": " + what + " id " + std::to_string(x) + " is outside the " + std::to_string(n) + "-token vocabulary");
    return GgufValue::u32(uint32_t(x));
  };
  std::vector<std::pair<std::string, GgufValue>> kv;
  kv.emplace_back("tokenizer.ggml.model", GgufValue::str(v.model));
  kv.emplace_back("tokenizer.ggml.tokens", GgufValue::str_array(v.tokens));
  kv.emplace_back("tokenizer.ggml.scores", GgufValue::f32_array(v.scores));
  kv.emplace_back("tokenizer.ggml.token_type", GgufValue::i32_array(v.types));
  if (v.model == "gemma4" || !v.merges.empty()) kv.emplace_back("tokenizer.ggml.merges", GgufValue::str_array(v.merges));
  kv.emplace_back("tokenizer.ggml.bos_token_id", id("bos", v.bos));
  kv.emplace_back("tokenizer.ggml.eos_token_id", id("eos", v.eos));
  if (v.unk >= 0) kv.emplace_back("tokenizer.ggml.unknown_token_id", id("unk", v.unk));
  if (v.pad >= 0) kv.emplace_back("tokenizer.ggml.padding_token_id", id("pad", v.pad));
  kv.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(true));
  kv.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::boolean(false));
  kv.emplace_back("tokenizer.ggml.add_space_prefix", GgufValue::boolean(v.add_space_prefix));
  if (!v.chat_template.empty()) kv.emplace_back("tokenizer.chat_template", GgufValue::str(v.chat_template));
  return kv;
}

}  // namespace gq
