// The "pattern" object of a Hugging Face tokenizer.json, shared by the Replace normalizer, the Split
// pre-tokenizer and the Replace decoder: {"String": s} (a literal) or {"Regex": r} (a small subset
// of Oniguruma, the Rust library's regex engine, that newline/space splitting needs).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace gq::hf {

// Regexes are limited to alternatives (|) of literal characters, escapes (\n \t \r \f \v \xHH,
// escaped punctuation), \s \S and [classes] of those, each optionally quantified by ?, * or +
// (greedy, backtracking, leftmost-first alternation as in Oniguruma). Anything else is refused.
class Pattern {
 public:
  static Pattern parse(const nlohmann::json& j, const std::string& where);
  static Pattern literal(std::string s);
  // The leftmost non-empty match starting at or after `from`, or {npos, npos}.
  std::pair<size_t, size_t> find(std::string_view text, size_t from) const;

  struct CharClass {
    bool negated = false;
    bool space = false;  // \s inside (or as) the class
    bool non_space = false;
    std::vector<std::pair<uint32_t, uint32_t>> ranges;
    bool matches(uint32_t cp) const;
  };
  struct Atom {
    CharClass chars;
    int min = 1, max = 1;  // max -1: unbounded
  };

 private:
  bool match_at(const std::vector<Atom>& seq, size_t atom, std::string_view text, size_t pos, size_t& end) const;
  std::string literal_;                    // non-empty for a literal pattern
  std::vector<std::vector<Atom>> alternatives_;  // for a regex
};

// Replace every match of `pattern` by `content`.
std::string replace_all(std::string_view text, const Pattern& pattern, std::string_view content);

}  // namespace gq::hf
