#include "text/hf_pattern.h"

#include <cctype>
#include <tuple>

#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/utf8.h"

namespace gq::hf {
namespace {

using nlohmann::json;

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

}  // namespace gq::hf
