#include "engine/gguf_tokenizer.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>
#include <unordered_map>
#include <utility>
#include <vector>

#include "io/error.h"
#include "io/utf8.h"
#include "text/hf_tokenizer.h"

namespace gq::engine {
namespace {

using nlohmann::json;

const char* const kSpace = "\xE2\x96\x81";  // "▁"
// llama.cpp's token types (tokenizer.ggml.token_type).
constexpr int32_t kUnknown = 2, kControl = 3, kUserDefined = 4;

// Reads one key, with the file and key in any error.
template <class F>
auto read_key(const GgufFile& f, const std::string& key, F get) {
  const GgufValue& v = f.get(key);
  try {
    return get(v);
  } catch (const FormatError& e) {
    throw FormatError(f.source() + ": " + key + ": " + e.what());
  }
}

int64_t optional_id(const GgufFile& f, const std::string& key, int64_t fallback, size_t n) {
  if (!f.find(key)) return fallback;
  const int64_t id = read_key(f, key, [](const GgufValue& v) { return v.as_int(); });
  if (id < 0 || uint64_t(id) >= n)
    throw FormatError(f.source() + ": " + key + ": id " + std::to_string(id) + " is outside the " + std::to_string(n) +
                      "-token vocabulary");
  return id;
}

bool optional_bool(const GgufFile& f, const std::string& key, bool fallback) {
  return f.find(key) ? read_key(f, key, [](const GgufValue& v) { return v.as_bool(); }) : fallback;
}

// SentencePiece's BPE as merge ranks: every split of a piece into two pieces merges to it, ranked by
// the piece's score (highest first; equal scores by id).
json merges_from_scores(const std::vector<std::string>& tokens, const std::vector<float>& scores,
                        const std::unordered_map<std::string, int32_t>& id_of) {
  std::vector<int32_t> order(tokens.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return scores[size_t(a)] > scores[size_t(b)]; });
  json merges = json::array();
  for (const int32_t id : order) {
    const std::string& s = tokens[size_t(id)];
    for (size_t k = utf8::char_len(static_cast<unsigned char>(s[0])); k < s.size();
         k += utf8::char_len(static_cast<unsigned char>(s[k]))) {
      std::string left = s.substr(0, k), right = s.substr(k);
      if (id_of.count(left) && id_of.count(right)) merges.push_back(json::array({std::move(left), std::move(right)}));
    }
  }
  return merges;
}

json replace_step(const std::string& from, const std::string& to) {
  return {{"type", "Replace"}, {"pattern", {{"String", from}}}, {"content", to}};
}

}  // namespace

std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& f) {
  const std::string src = f.source();
  if (!f.find("tokenizer.ggml.model") || !f.find("tokenizer.ggml.tokens"))
    throw FormatError(src + ": no tokenizer (tokenizer.ggml.model / tokenizer.ggml.tokens are absent)");
  const std::string model = read_key(f, "tokenizer.ggml.model", [](const GgufValue& v) { return v.as_str(); });
  const bool spm = model == "llama";
  if (!spm && model != "gemma4")
    throw FormatError(src + ": tokenizer.ggml.model: '" + model + "' is not supported (only \"gemma4\" BPE and \"llama\" SentencePiece)");
  const std::vector<std::string> tokens =
      read_key(f, "tokenizer.ggml.tokens", [](const GgufValue& v) { return v.as_str_array(); });
  const size_t n = tokens.size();
  if (n == 0 || n > size_t(kMaxTokenId) + 1) throw FormatError(src + ": tokenizer.ggml.tokens: " + std::to_string(n) + " tokens");
  std::vector<int32_t> types(n, 1);
  if (f.find("tokenizer.ggml.token_type")) types = read_key(f, "tokenizer.ggml.token_type", [](const GgufValue& v) { return v.as_i32_array(); });
  if (types.size() != n)
    throw FormatError(src + ": tokenizer.ggml.token_type: " + std::to_string(types.size()) + " entries for " + std::to_string(n) + " tokens");

  std::unordered_map<std::string, int32_t> id_of;
  json vocab = json::object(), added = json::array();
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = tokens[i];
    if (t.empty()) throw FormatError(src + ": tokenizer.ggml.tokens[" + std::to_string(i) + "] is empty");
    if (utf8::find_invalid(t) != std::string::npos)
      throw FormatError(src + ": tokenizer.ggml.tokens[" + std::to_string(i) + "] is not valid UTF-8");
    const auto [it, fresh] = id_of.emplace(t, int32_t(i));
    if (!fresh)
      throw FormatError(src + ": tokenizer.ggml.tokens: '" + t + "' is token " + std::to_string(it->second) + " and " + std::to_string(i));
    vocab[t] = int32_t(i);
    const int32_t type = types[i];
    if (type == kControl || type == kUserDefined || type == kUnknown)
      added.push_back({{"id", int32_t(i)}, {"content", t}, {"special", type != kUserDefined}, {"normalized", false},
                       {"lstrip", false}, {"rstrip", false}, {"single_word", false}});
  }

  json merges;
  if (spm) {
    std::vector<float> scores(n, 0.0f);
    if (f.find("tokenizer.ggml.scores")) scores = read_key(f, "tokenizer.ggml.scores", [](const GgufValue& v) { return v.as_f32_array(); });
    if (scores.size() != n)
      throw FormatError(src + ": tokenizer.ggml.scores: " + std::to_string(scores.size()) + " entries for " + std::to_string(n) + " tokens");
    merges = merges_from_scores(tokens, scores, id_of);
  } else {
    if (!f.find("tokenizer.ggml.merges")) throw FormatError(src + ": tokenizer.ggml.merges: missing (a gemma4 vocabulary needs its merges)");
    const std::vector<std::string> pairs = read_key(f, "tokenizer.ggml.merges", [](const GgufValue& v) { return v.as_str_array(); });
    merges = json::array();
    for (size_t r = 0; r < pairs.size(); ++r) {  // "a b", split at the first space after the first byte, as llama.cpp does
      const size_t sp = pairs[r].find(' ', 1);
      if (sp == std::string::npos)
        throw FormatError(src + ": tokenizer.ggml.merges[" + std::to_string(r) + "] '" + pairs[r] + "' is not two pieces split by a space");
      merges.push_back(json::array({pairs[r].substr(0, sp), pairs[r].substr(sp + 1)}));
    }
  }

  const int64_t bos = optional_id(f, "tokenizer.ggml.bos_token_id", -1, n);
  const int64_t eos = optional_id(f, "tokenizer.ggml.eos_token_id", -1, n);
  const int64_t pad = optional_id(f, "tokenizer.ggml.padding_token_id", -1, n);
  const int64_t unk = optional_id(f, "tokenizer.ggml.unknown_token_id", -1, n);
  const bool add_bos = optional_bool(f, "tokenizer.ggml.add_bos_token", true) && bos >= 0;
  const bool space_prefix = spm && optional_bool(f, "tokenizer.ggml.add_space_prefix", true);

  json normalizer = replace_step(" ", kSpace);
  if (space_prefix)
    normalizer = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "Prepend"}, {"prepend", kSpace}}, normalizer})}};
  json decoders = json::array({replace_step(kSpace, " "), {{"type", "ByteFallback"}}, {{"type", "Fuse"}}});
  if (space_prefix) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  json pre_tokenizer;  // SentencePiece: the whole text is one word
  if (!spm) pre_tokenizer = {{"type", "Split"}, {"pattern", {{"Regex", "\n+"}}}, {"behavior", "Isolated"}, {"invert", false}};
  json post_processor;
  if (add_bos) {
    const std::string b = tokens[size_t(bos)];
    post_processor = {{"type", "TemplateProcessing"},
                      {"single", json::array({{{"SpecialToken", {{"id", b}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                      {"pair", json::array()},
                      {"special_tokens", {{b, {{"id", b}, {"ids", {bos}}, {"tokens", {b}}}}}}};
  }
  json bpe = {{"type", "BPE"}, {"dropout", nullptr}, {"fuse_unk", false}, {"byte_fallback", true}, {"ignore_merges", false},
              {"vocab", std::move(vocab)}, {"merges", std::move(merges)}};
  if (unk >= 0) bpe["unk_token"] = tokens[size_t(unk)];
  json config = json::object();
  if (bos >= 0) config["bos_token"] = tokens[size_t(bos)];
  if (eos >= 0) config["eos_token"] = tokens[size_t(eos)];
  if (pad >= 0) config["pad_token"] = tokens[size_t(pad)];
  json tok = {{"added_tokens", std::move(added)}, {"normalizer", std::move(normalizer)}, {"pre_tokenizer", std::move(pre_tokenizer)},
              {"post_processor", std::move(post_processor)}, {"decoder", {{"type", "Sequence"}, {"decoders", std::move(decoders)}}},
              {"model", std::move(bpe)}};
  return HfTokenizer::from_json(std::move(tok), config, src + " (tokenizer.ggml.*, \"" + model + "\")", src);
}

std::string gguf_chat_template(const GgufFile& f) {
  if (!f.find("tokenizer.chat_template")) return "";
  return read_key(f, "tokenizer.chat_template", [](const GgufValue& v) { return v.as_str(); });
}

}  // namespace gq::engine
