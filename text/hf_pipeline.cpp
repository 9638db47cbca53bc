#include "text/hf_pipeline.h"

#include <algorithm>
#include <cctype>
#include <tuple>

#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/utf8.h"

namespace gq::hf {
namespace {

using nlohmann::json;

const std::string& type_of(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw FormatError(where + ": expected an object with a \"type\"");
  return j["type"].get_ref<const std::string&>();
}

std::string string_at(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_string()) throw FormatError(where + ": \"" + key + "\" must be a string");
  return j[key].get<std::string>();
}

// Regex subset parser (see Pattern). Works on code points so classes never split a character.
class RegexParser {
 public:
  RegexParser(const std::string& re, const std::string& where) : re_(re), where_(where) {}

  std::vector<std::vector<Pattern::Atom>> parse() {
    std::vector<std::vector<Pattern::Atom>> alts(1);
    while (i_ < re_.size()) {
      const char c = re_[i_];
      if (c == '|') {
        ++i_;
        alts.emplace_back();
        continue;
      }
      Pattern::Atom atom;
      if (c == '[') atom.chars = parse_class();
      else if (std::string("()^$.{}?*+").find(c) != std::string::npos) fail(std::string("'") + c + "'");
      else atom.chars = single(next_char_or_escape());
      if (i_ < re_.size() && (re_[i_] == '?' || re_[i_] == '*' || re_[i_] == '+')) {
        atom.min = re_[i_] == '+' ? 1 : 0;
        atom.max = re_[i_] == '?' ? 1 : -1;
        ++i_;
        if (i_ < re_.size() && (re_[i_] == '?' || re_[i_] == '+')) fail("lazy or possessive quantifiers");
      }
      alts.back().push_back(std::move(atom));
    }
    for (const auto& a : alts)
      if (a.empty()) fail("an empty alternative");
    return alts;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw FormatError(where_ + ": regex \"" + re_ + "\" uses " + what + ", which this reader does not support");
  }

  static Pattern::CharClass single(uint32_t cp) {
    Pattern::CharClass c;
    if (cp == kSpace) c.space = true;
    else if (cp == kNonSpace) c.non_space = true;
    else c.ranges.push_back({cp, cp});
    return c;
  }

  // Sentinels for \s and \S (outside the code point range).
  static constexpr uint32_t kSpace = 0x110000, kNonSpace = 0x110001;

  uint32_t next_char_or_escape() {
    if (re_[i_] != '\\') {
      const uint32_t cp = utf8::decode_at(re_, i_);
      i_ += utf8::char_len(static_cast<unsigned char>(re_[i_]));
      return cp;
    }
    if (++i_ >= re_.size()) fail("a trailing backslash");
    const char e = re_[i_++];
    switch (e) {
      case 'n': return '\n';
      case 't': return '\t';
      case 'r': return '\r';
      case 'f': return '\f';
      case 'v': return '\v';
      case 's': return kSpace;
      case 'S': return kNonSpace;
      case 'x': {
        if (i_ + 2 > re_.size() || !std::isxdigit(static_cast<unsigned char>(re_[i_])) ||
            !std::isxdigit(static_cast<unsigned char>(re_[i_ + 1])))
          fail("\\x without two hex digits");
        const uint32_t v = uint32_t(std::stoul(re_.substr(i_, 2), nullptr, 16));
        i_ += 2;
        return v;
      }
      default:
        if (std::ispunct(static_cast<unsigned char>(e)) || e == ' ') return uint32_t(e);
        fail(std::string("\\") + e);
    }
  }

  Pattern::CharClass parse_class() {
    Pattern::CharClass c;
    ++i_;  // '['
    if (i_ < re_.size() && re_[i_] == '^') c.negated = true, ++i_;
    bool first = true;
    while (true) {
      if (i_ >= re_.size()) fail("an unterminated [class]");
      if (re_[i_] == ']' && !first) break;
      if (re_[i_] == '[') fail("nested classes");
      first = false;
      const uint32_t lo = next_char_or_escape();
      if (lo == kSpace) { c.space = true; continue; }
      if (lo == kNonSpace) { c.non_space = true; continue; }
      uint32_t hi = lo;
      if (i_ + 1 < re_.size() && re_[i_] == '-' && re_[i_ + 1] != ']') {
        ++i_;
        hi = next_char_or_escape();
        if (hi >= kSpace || hi < lo) fail("a bad range in a [class]");
      }
      c.ranges.push_back({lo, hi});
    }
    ++i_;  // ']'
    return c;
  }

  const std::string& re_;
  const std::string& where_;
  size_t i_ = 0;
};

}  // namespace

bool Pattern::CharClass::matches(uint32_t cp) const {
  bool in = (space && utf8::is_white_space(cp)) || (non_space && !utf8::is_white_space(cp));
  for (const auto& [lo, hi] : ranges) in = in || (cp >= lo && cp <= hi);
  return in != negated;
}

Pattern Pattern::literal(std::string s) {
  Pattern p;
  p.literal_ = std::move(s);
  return p;
}

Pattern Pattern::parse(const json& j, const std::string& where) {
  if (j.is_object() && j.contains("String") && j["String"].is_string()) {
    std::string s = j["String"].get<std::string>();
    if (s.empty()) throw FormatError(where + ": empty String pattern");
    return literal(std::move(s));
  }
  if (j.is_object() && j.contains("Regex") && j["Regex"].is_string()) {
    const std::string re = j["Regex"].get<std::string>();
    Pattern p;
    p.alternatives_ = RegexParser(re, where).parse();
    return p;
  }
  throw FormatError(where + ": pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

bool Pattern::match_at(const std::vector<Atom>& seq, size_t atom, std::string_view text, size_t pos, size_t& end) const {
  if (atom == seq.size()) {
    end = pos;
    return true;
  }
  const Atom& a = seq[atom];
  std::vector<size_t> stops{pos};  // position after 0, 1, 2, ... repetitions
  for (size_t p = pos; p < text.size() && (a.max < 0 || int(stops.size()) <= a.max);) {
    if (!a.chars.matches(utf8::decode_at(text, p))) break;
    p += utf8::char_len(static_cast<unsigned char>(text[p]));
    stops.push_back(p);
  }
  for (size_t k = stops.size(); k-- > size_t(a.min);)  // greedy: longest first, then backtrack
    if (match_at(seq, atom + 1, text, stops[k], end)) return true;
  return false;
}

std::pair<size_t, size_t> Pattern::find(std::string_view text, size_t from) const {
  constexpr size_t npos = std::string_view::npos;
  if (!literal_.empty()) {
    const size_t at = text.find(literal_, from);
    return at == npos ? std::pair{npos, npos} : std::pair{at, at + literal_.size()};
  }
  for (size_t start = from; start < text.size(); start += utf8::char_len(static_cast<unsigned char>(text[start])))
    for (const auto& alt : alternatives_) {
      size_t end;
      if (match_at(alt, 0, text, start, end)) {
        if (end > start) return {start, end};
        break;  // an empty match: Oniguruma would report it; it splits nothing, so move on
      }
    }
  return {npos, npos};
}

std::string replace_all(std::string_view text, const Pattern& pattern, std::string_view content) {
  std::string out;
  out.reserve(text.size() + text.size() / 2);
  size_t at = 0;
  for (auto [b, e] = pattern.find(text, 0); b != std::string_view::npos; std::tie(b, e) = pattern.find(text, e)) {
    out.append(text.substr(at, b - at)).append(content);
    at = e;
  }
  out.append(text.substr(at));
  return out;
}

Normalizer Normalizer::parse(const json& j, const std::string& where) {
  Normalizer n;
  if (j.is_null()) return n;
  const std::string& type = type_of(j, where);
  if (type == "Sequence") {
    if (!j.contains("normalizers") || !j["normalizers"].is_array()) throw FormatError(where + ": Sequence without \"normalizers\"");
    for (size_t i = 0; i < j["normalizers"].size(); ++i) {
      Normalizer inner = parse(j["normalizers"][i], where + ".normalizers[" + std::to_string(i) + "]");
      n.steps.insert(n.steps.end(), inner.steps.begin(), inner.steps.end());
    }
  } else if (type == "Replace") {
    n.steps.push_back({Step::Replace, Pattern::parse(j.value("pattern", json()), where), string_at(j, "content", where)});
  } else if (type == "Prepend") {
    n.steps.push_back({Step::Prepend, Pattern::literal(" "), string_at(j, "prepend", where)});
  } else {
    throw FormatError(where + ": normalizer type '" + type + "' is not supported");
  }
  return n;
}

std::string Normalizer::apply(std::string_view text) const {
  std::string s(text);
  for (const Step& step : steps) {
    if (step.kind == Step::Replace) s = replace_all(s, step.pattern, step.content);
    else if (!s.empty()) s.insert(0, step.content);  // Prepend leaves an empty string empty
  }
  return s;
}

PreTokenizer PreTokenizer::parse(const json& j, const std::string& where) {
  PreTokenizer p;
  if (j.is_null()) return p;
  const std::string& type = type_of(j, where);
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array()) throw FormatError(where + ": Sequence without \"pretokenizers\"");
    for (size_t i = 0; i < j["pretokenizers"].size(); ++i) {
      PreTokenizer inner = parse(j["pretokenizers"][i], where + ".pretokenizers[" + std::to_string(i) + "]");
      p.steps.insert(p.steps.end(), inner.steps.begin(), inner.steps.end());
    }
  } else if (type == "Split") {
    Split s;
    s.pattern = Pattern::parse(j.value("pattern", json()), where);
    const std::string behavior = string_at(j, "behavior", where);
    if (behavior == "Removed") s.behavior = Behavior::Removed;
    else if (behavior == "Isolated") s.behavior = Behavior::Isolated;
    else if (behavior == "MergedWithPrevious") s.behavior = Behavior::MergedWithPrevious;
    else if (behavior == "MergedWithNext") s.behavior = Behavior::MergedWithNext;
    else if (behavior == "Contiguous") s.behavior = Behavior::Contiguous;
    else throw FormatError(where + ": unknown Split behavior '" + behavior + "'");
    s.invert = j.value("invert", false);
    p.steps.push_back(std::move(s));
  } else {
    throw FormatError(where + ": pre_tokenizer type '" + type + "' is not supported");
  }
  return p;
}

namespace {

struct Span {
  size_t begin, end;
  bool flag;  // is a match (before the behavior), or is removed (after it)
};

// The Rust library's NormalizedString::split for one piece.
void split_piece(const PreTokenizer::Split& split, std::string_view text, size_t base, std::vector<Span>& out) {
  std::vector<Span> spans;
  size_t prev = 0;
  for (auto [b, e] = split.pattern.find(text, 0); b != std::string_view::npos; std::tie(b, e) = split.pattern.find(text, e)) {
    if (b != prev) spans.push_back({prev, b, false});
    spans.push_back({b, e, true});
    prev = e;
  }
  if (prev != text.size() || text.empty()) spans.push_back({prev, text.size(), false});
  if (split.invert)
    for (Span& s : spans) s.flag = !s.flag;

  using B = PreTokenizer::Behavior;
  std::vector<Span> merged;
  bool previous_match = false;
  switch (split.behavior) {
    case B::Removed: merged = spans; break;
    case B::Isolated:
      for (Span s : spans) merged.push_back({s.begin, s.end, false});
      break;
    case B::Contiguous:
      for (const Span& s : spans) {
        if (s.flag == previous_match && !merged.empty()) merged.back().end = s.end;
        else merged.push_back({s.begin, s.end, false});
        previous_match = s.flag;
      }
      break;
    case B::MergedWithPrevious:
      for (const Span& s : spans) {
        if (s.flag && !previous_match && !merged.empty()) merged.back().end = s.end;
        else merged.push_back({s.begin, s.end, false});
        previous_match = s.flag;
      }
      break;
    case B::MergedWithNext:
      for (size_t k = spans.size(); k-- > 0;) {
        const Span& s = spans[k];
        if (s.flag && !previous_match && !merged.empty()) merged.back().begin = s.begin;
        else merged.push_back({s.begin, s.end, false});
        previous_match = s.flag;
      }
      std::reverse(merged.begin(), merged.end());
      break;
  }
  for (const Span& s : merged)
    if (!s.flag && s.end > s.begin) out.push_back({base + s.begin, base + s.end, false});
}

}  // namespace

void PreTokenizer::apply(std::string_view text, std::vector<std::string_view>& words) const {
  if (text.empty()) return;
  std::vector<Span> pieces{{0, text.size(), false}}, next;
  for (const Split& split : steps) {
    next.clear();
    for (const Span& p : pieces) split_piece(split, text.substr(p.begin, p.end - p.begin), p.begin, next);
    pieces.swap(next);
  }
  for (const Span& p : pieces) words.push_back(text.substr(p.begin, p.end - p.begin));
}

Decoder Decoder::parse(const json& j, const std::string& where) {
  Decoder d;
  if (j.is_null()) return d;
  const std::string& type = type_of(j, where);
  if (type == "Sequence") {
    if (!j.contains("decoders") || !j["decoders"].is_array()) throw FormatError(where + ": Sequence without \"decoders\"");
    for (size_t i = 0; i < j["decoders"].size(); ++i) {
      Decoder inner = parse(j["decoders"][i], where + ".decoders[" + std::to_string(i) + "]");
      d.steps.insert(d.steps.end(), inner.steps.begin(), inner.steps.end());
    }
  } else if (type == "Replace") {
    d.steps.push_back({Step::Replace, Pattern::parse(j.value("pattern", json()), where), string_at(j, "content", where)});
  } else if (type == "ByteFallback" || type == "Fuse") {
    Step s;
    s.kind = type == "Fuse" ? Step::Fuse : Step::ByteFallback;
    d.steps.push_back(std::move(s));
  } else if (type == "Strip") {
    Step s;
    s.kind = Step::Strip;
    s.content = string_at(j, "content", where);
    if (s.content.empty() || utf8::char_len(static_cast<unsigned char>(s.content[0])) != s.content.size())
      throw FormatError(where + ": Strip content must be one character");
    s.start = j.value("start", size_t(0));
    s.stop = j.value("stop", size_t(0));
    d.steps.push_back(std::move(s));
  } else {
    throw FormatError(where + ": decoder type '" + type + "' is not supported");
  }
  return d;
}

namespace {

// "<0xAB>" -> 0xAB, or -1.
int byte_piece(const std::string& p) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
  if (!std::isxdigit(static_cast<unsigned char>(p[3])) || !std::isxdigit(static_cast<unsigned char>(p[4]))) return -1;
  return int(std::stoul(p.substr(3, 2), nullptr, 16));
}

// Runs of <0xXX> pieces become their bytes when those are valid UTF-8, else one U+FFFD per byte.
std::vector<std::string> byte_fallback(std::vector<std::string> pieces) {
  std::vector<std::string> out;
  std::string bytes;
  size_t n_bytes = 0;
  auto flush = [&] {
    if (n_bytes == 0) return;
    if (utf8::find_invalid(bytes) == std::string::npos) out.push_back(bytes);
    else
      for (size_t k = 0; k < n_bytes; ++k) out.push_back("\xEF\xBF\xBD");
    bytes.clear();
    n_bytes = 0;
  };
  for (std::string& p : pieces) {
    const int b = byte_piece(p);
    if (b >= 0) {
      bytes += char(b);
      ++n_bytes;
    } else {
      flush();
      out.push_back(std::move(p));
    }
  }
  flush();
  return out;
}

std::string strip(const std::string& piece, const std::string& c, size_t start, size_t stop) {
  size_t b = 0, e = piece.size();
  for (size_t k = 0; k < start && piece.compare(b, c.size(), c) == 0 && b < e; ++k) b += c.size();
  for (size_t k = 0; k < stop && e >= b + c.size() && piece.compare(e - c.size(), c.size(), c) == 0; ++k) e -= c.size();
  return piece.substr(b, e - b);
}

}  // namespace

std::string Decoder::apply(std::vector<std::string> pieces) const {
  if (steps.empty()) {
    std::string out;
    for (size_t i = 0; i < pieces.size(); ++i) out += (i ? " " : "") + pieces[i];
    return out;
  }
  for (const Step& step : steps) {
    switch (step.kind) {
      case Step::Replace:
        for (std::string& p : pieces) p = replace_all(p, step.pattern, step.content);
        break;
      case Step::ByteFallback: pieces = byte_fallback(std::move(pieces)); break;
      case Step::Fuse: {
        std::string all;
        for (const std::string& p : pieces) all += p;
        pieces.assign(1, std::move(all));
        break;
      }
      case Step::Strip:
        for (std::string& p : pieces) p = strip(p, step.content, step.start, step.stop);
        break;
    }
  }
  std::string out;
  for (const std::string& p : pieces) out += p;
  return out;
}

PostProcessor PostProcessor::parse(const json& j, const std::string& where) {
  PostProcessor pp;
  if (j.is_null()) return pp;
  const std::string& type = type_of(j, where);
  if (type == "Sequence") {
    if (!j.contains("processors") || !j["processors"].is_array()) throw FormatError(where + ": Sequence without \"processors\"");
    for (size_t i = 0; i < j["processors"].size(); ++i) {
      const json& p = j["processors"][i];
      const std::string w = where + ".processors[" + std::to_string(i) + "]";
      if (type_of(p, w) == "ByteLevel") continue;  // only adjusts offsets; ids are untouched
      PostProcessor inner = parse(p, w);
      if (!pp.prefix.empty() || !pp.suffix.empty()) throw FormatError(w + ": more than one template is not supported");
      pp = std::move(inner);
    }
    return pp;
  }
  if (type != "TemplateProcessing") throw FormatError(where + ": post_processor type '" + type + "' is not supported");
  if (!j.contains("single") || !j["single"].is_array()) throw FormatError(where + ": TemplateProcessing without \"single\"");
  const json& specials = j.value("special_tokens", json::object());
  bool seen_sequence = false;
  for (const json& item : j["single"]) {
    if (item.contains("Sequence")) {
      if (seen_sequence) throw FormatError(where + ": \"single\" holds the sequence twice");
      seen_sequence = true;
    } else if (item.contains("SpecialToken")) {
      const std::string name = string_at(item["SpecialToken"], "id", where + ".single");
      if (!specials.contains(name) || !specials[name].contains("ids") || !specials[name]["ids"].is_array())
        throw FormatError(where + ": special token '" + name + "' has no ids in \"special_tokens\"");
      if (pp.first_special.empty()) pp.first_special = name;
      for (const json& id : specials[name]["ids"]) (seen_sequence ? pp.suffix : pp.prefix).push_back(id.get<int32_t>());
    } else {
      throw FormatError(where + ": unknown item in \"single\": " + item.dump());
    }
  }
  if (!seen_sequence) throw FormatError(where + ": \"single\" never places the sequence");
  return pp;
}

void TokenMatcher::add(std::string_view s, size_t value) {
  if (s.empty()) return;
  uint32_t node = 0;
  for (const char ch : s) {
    const auto b = static_cast<unsigned char>(ch);
    uint32_t c = child(node, b);
    if (c == 0) {
      c = uint32_t(nodes_.size());
      nodes_.emplace_back();
      auto& next = nodes_[node].next;
      next.insert(std::lower_bound(next.begin(), next.end(), std::pair<unsigned char, uint32_t>{b, 0}), {b, c});
    }
    node = c;
  }
  nodes_[node].value = value;
  first_byte_[static_cast<unsigned char>(s[0])] = true;
}

uint32_t TokenMatcher::child(uint32_t node, unsigned char b) const {
  const auto& next = nodes_[node].next;
  const auto it = std::lower_bound(next.begin(), next.end(), std::pair<unsigned char, uint32_t>{b, 0});
  return it != next.end() && it->first == b ? it->second : 0;  // 0 is the root: never a child
}

TokenMatcher::Match TokenMatcher::find(std::string_view text, size_t from) const {
  for (size_t start = from; start < text.size(); ++start) {
    if (!first_byte_[static_cast<unsigned char>(text[start])]) continue;
    Match best{std::string_view::npos, 0, 0};
    uint32_t node = 0;
    for (size_t i = start; i < text.size(); ++i) {
      node = child(node, static_cast<unsigned char>(text[i]));
      if (node == 0) break;
      if (nodes_[node].value != SIZE_MAX) best = {start, i + 1, nodes_[node].value};
    }
    if (best.begin != std::string_view::npos) return best;
  }
  return {std::string_view::npos, std::string_view::npos, 0};
}

}  // namespace gq::hf
