#include "text/hf_tokenizer.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/mapped_file.h"
#include "io/utf8.h"
#include "text/hf_decoder.h"
#include "text/hf_normalizer.h"
#include "text/hf_post_processor.h"
#include "text/hf_pre_tokenizer.h"
#include "text/hf_token_matcher.h"

namespace gq {

namespace hf {
struct Pipeline {
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  Decoder decoder;
  PostProcessor post_processor;
  TokenMatcher raw_added;         // added tokens with normalized=false: matched in the raw text
  TokenMatcher normalized_added;  // normalized=true: matched after normalization
};
}  // namespace hf

namespace {

using nlohmann::json;

json parse_json_file(const std::string& path) {
  const MappedFile file(path);
  try {
    return json::parse(file.data(), file.data() + file.size());
  } catch (const json::exception& e) {
    throw FormatError(path + ": not valid JSON: " + e.what());
  }
}

// Takes `m` by reference to move its strings out: the vocab and merges are most of the load time.
BpeModel parse_model(json& m, const std::string& source) {
  const std::string where = source + ": model";
  if (!m.is_object() || m.value("type", std::string("BPE")) != "BPE")
    throw FormatError(where + ": type '" + (m.is_object() ? m.value("type", std::string("?")) : std::string("?")) +
                      "' is not supported (only BPE)");
  if (!m.value("dropout", json()).is_null()) throw FormatError(where + ": BPE dropout is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (m.contains(key) && !m[key].is_null() && m[key] != "") throw FormatError(where + ": " + key + " is not supported");
  if (!m.contains("vocab") || !m["vocab"].is_object()) throw FormatError(where + ": \"vocab\" must be an object");
  if (!m.contains("merges") || !m["merges"].is_array()) throw FormatError(where + ": \"merges\" must be an array");

  std::vector<std::pair<std::string, int32_t>> vocab;
  vocab.reserve(m["vocab"].size());
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
    if (!it.value().is_number_integer()) throw FormatError(where + ": vocab['" + it.key() + "'] is not an integer");
    vocab.emplace_back(it.key(), it.value().get<int32_t>());
  }
  // Merges are "a b" strings (older files) or [a, b] pairs (newer ones).
  std::vector<std::pair<std::string, std::string>> merges;
  json& merge_list = m["merges"];
  merges.reserve(merge_list.size());
  for (size_t r = 0; r < merge_list.size(); ++r) {
    json& e = merge_list[r];
    if (e.is_string()) {
      const std::string& s = e.get_ref<const std::string&>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        throw FormatError(where + ": merges[" + std::to_string(r) + "] \"" + s + "\" is not two pieces split by one space");
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      merges.emplace_back(std::move(e[0].get_ref<std::string&>()), std::move(e[1].get_ref<std::string&>()));
    } else {
      throw FormatError(where + ": merges[" + std::to_string(r) + "] must be \"a b\" or [\"a\", \"b\"]");
    }
  }
  BpeOptions opt;
  if (m.contains("unk_token") && m["unk_token"].is_string()) opt.unk_piece = m["unk_token"].get<std::string>();
  opt.byte_fallback = m.value("byte_fallback", false);
  opt.fuse_unk = m.value("fuse_unk", false);
  opt.ignore_merges = m.value("ignore_merges", false);
  return BpeModel(std::move(vocab), merges, std::move(opt), where);
}

std::vector<HfTokenizer::AddedToken> parse_added(const json& j, const std::string& source) {
  std::vector<HfTokenizer::AddedToken> out;
  if (j.is_null()) return out;
  if (!j.is_array()) throw FormatError(source + ": added_tokens must be an array");
  for (size_t i = 0; i < j.size(); ++i) {
    const json& t = j[i];
    const std::string where = source + ": added_tokens[" + std::to_string(i) + "]";
    if (!t.is_object() || !t.contains("id") || !t.contains("content") || !t["content"].is_string())
      throw FormatError(where + ": needs \"id\" and \"content\"");
    if (t.value("single_word", false)) throw FormatError(where + ": single_word tokens are not supported");
    HfTokenizer::AddedToken a{t["content"].get<std::string>(), t["id"].get<TokenId>(), t.value("special", false),
                              t.value("normalized", !t.value("special", false)), t.value("lstrip", false), t.value("rstrip", false)};
    if (a.id < 0 || a.content.empty()) throw FormatError(where + ": bad id or empty content");
    out.push_back(std::move(a));
  }
  return out;
}

// tokenizer_config.json names a token as "<bos>" or as {"content": "<bos>", ...}.
std::string config_token(const json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return "";
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

bool is_space_at(std::string_view s, size_t i) { return utf8::is_white_space(utf8::decode_at(s, i)); }

// Start of the whitespace run that ends at `end` (lstrip).
size_t space_run_before(std::string_view s, size_t end) {
  size_t b = end;
  while (b > 0) {
    size_t p = b - 1;
    while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
    if (!is_space_at(s, p)) break;
    b = p;
  }
  return b;
}

size_t space_run_after(std::string_view s, size_t begin) {
  size_t e = begin;
  while (e < s.size() && is_space_at(s, e)) e += utf8::char_len(static_cast<unsigned char>(s[e]));
  return e;
}

// Splits `text` around the matcher's tokens: calls on_text for the stretches between them and
// on_token for each token. lstrip/rstrip widen a token over the white space beside it exactly as
// the Rust AddedVocabulary does, including its quirk that matches are found before widening: a
// token inside another's stripped white space (a "\n" after a rstrip token) is still emitted.
template <class OnText, class OnToken>
void split_added(std::string_view text, const hf::TokenMatcher& matcher, const std::vector<HfTokenizer::AddedToken>& added,
                 OnText on_text, OnToken on_token) {
  size_t done = 0;
  for (size_t from = 0;;) {
    const hf::TokenMatcher::Match m = matcher.find(text, from);
    if (m.begin == std::string_view::npos) break;
    const HfTokenizer::AddedToken& tok = added[m.value];
    size_t b = m.begin, e = m.end;
    if (tok.lstrip) b = std::max(space_run_before(text, b), done);
    if (tok.rstrip) e = space_run_after(text, e);
    if (done < b) on_text(text.substr(done, b - done));
    on_token(tok.id);
    done = e;
    from = m.end;
  }
  if (done < text.size()) on_text(text.substr(done));
}

}  // namespace

HfTokenizer::HfTokenizer(std::string source, BpeModel model, std::vector<AddedToken> added, std::unique_ptr<hf::Pipeline> pipeline)
    : source_(std::move(source)), model_(std::move(model)), added_(std::move(added)), pipeline_(std::move(pipeline)) {
  vocab_size_ = model_.size();
  for (size_t i = 0; i < added_.size(); ++i) {
    // An added token's id may also be a model id with another piece; the added one wins, as in Rust.
    const AddedToken& a = added_[i];
    added_by_id_[a.id] = i;
    added_by_content_[a.content] = a.id;
    vocab_size_ = std::max(vocab_size_, a.id + 1);
    (a.normalized ? pipeline_->normalized_added : pipeline_->raw_added).add(a.content, i);
  }
}

HfTokenizer::~HfTokenizer() = default;

std::unique_ptr<HfTokenizer> HfTokenizer::load(const std::string& json_path, const std::string& config_path) {
  return from_json(parse_json_file(json_path), config_path.empty() ? json() : parse_json_file(config_path), json_path,
                   config_path);
}

std::unique_ptr<HfTokenizer> HfTokenizer::from_json(json j, const json& config, const std::string& json_path,
                                                    const std::string& config_path) {
  if (!j.is_object()) throw FormatError(json_path + ": expected a JSON object");
  auto pipeline = std::make_unique<hf::Pipeline>();
  pipeline->normalizer = hf::Normalizer::parse(j.value("normalizer", json()), json_path + ": normalizer");
  pipeline->pre_tokenizer = hf::PreTokenizer::parse(j.value("pre_tokenizer", json()), json_path + ": pre_tokenizer");
  pipeline->decoder = hf::Decoder::parse(j.value("decoder", json()), json_path + ": decoder");
  pipeline->post_processor = hf::PostProcessor::parse(j.value("post_processor", json()), json_path + ": post_processor");
  if (!j.contains("model")) throw FormatError(json_path + ": no \"model\"");
  std::unique_ptr<HfTokenizer> t(new HfTokenizer(json_path, parse_model(j["model"], json_path),
                                                 parse_added(j.value("added_tokens", json()), json_path), std::move(pipeline)));

  auto named = [&](const char* key, const char* fallback) {
    std::string name = config_token(config, key);
    if (name.empty()) name = fallback;
    const TokenId id = t->piece_id(name);
    if (id < 0 && !config_token(config, key).empty())
      throw FormatError(config_path + ": " + key + " '" + name + "' is not a token of " + json_path);
    return id;
  };
  const std::string& first_special = t->pipeline_->post_processor.first_special;
  t->bos_ = named("bos_token", first_special.empty() ? "<bos>" : first_special.c_str());
  t->eos_ = named("eos_token", "<eos>");
  t->pad_ = named("pad_token", "<pad>");
  for (const auto* ids : {&t->pipeline_->post_processor.prefix, &t->pipeline_->post_processor.suffix})
    for (const TokenId id : *ids)
      if (id < 0 || id >= t->vocab_size_) throw FormatError(json_path + ": post_processor adds id " + std::to_string(id) + ", outside the vocab");
  return t;
}

void HfTokenizer::encode_normalized(std::string_view text, std::vector<TokenId>& out) const {
  thread_local std::vector<std::string_view> words;
  const std::string normalized = pipeline_->normalizer.apply(text);
  auto encode_words = [&](std::string_view s) {
    words.clear();
    pipeline_->pre_tokenizer.apply(s, words);
    for (const std::string_view w : words) model_.encode(w, out);
  };
  if (pipeline_->normalized_added.empty()) {
    encode_words(normalized);
    return;
  }
  split_added(normalized, pipeline_->normalized_added, added_, encode_words, [&](TokenId id) { out.push_back(id); });
}

std::vector<TokenId> HfTokenizer::encode(std::string_view text, bool add_special) const {
  const size_t bad = utf8::find_invalid(text);
  if (bad != std::string_view::npos) throw FormatError("text is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  std::vector<TokenId> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special) out.insert(out.end(), pipeline_->post_processor.prefix.begin(), pipeline_->post_processor.prefix.end());
  split_added(text, pipeline_->raw_added, added_, [&](std::string_view s) { encode_normalized(s, out); },
              [&](TokenId id) { out.push_back(id); });
  if (add_special) out.insert(out.end(), pipeline_->post_processor.suffix.begin(), pipeline_->post_processor.suffix.end());
  return out;
}

std::string HfTokenizer::piece(TokenId id) const {
  const auto it = added_by_id_.find(id);
  if (it != added_by_id_.end()) return added_[it->second].content;
  if (!model_.has_id(id)) throw FormatError(source_ + ": no token with id " + std::to_string(id));
  return model_.piece(id);
}

TokenId HfTokenizer::piece_id(std::string_view piece) const {
  const auto it = added_by_content_.find(std::string(piece));
  return it != added_by_content_.end() ? it->second : model_.id(piece);
}

std::string HfTokenizer::decode(const std::vector<TokenId>& ids) const {
  std::vector<std::string> pieces;
  pieces.reserve(ids.size());
  for (const TokenId id : ids) pieces.push_back(piece(id));
  return pipeline_->decoder.apply(std::move(pieces));
}

std::string HfTokenizer::describe() const {
  return source_ + " (BPE, " + std::to_string(vocab_size_) + " ids, " + std::to_string(added_.size()) + " added tokens)";
}

}  // namespace gq
