// The text-side components of a Hugging Face tokenizer.json around its model: split patterns,
// normalizer, pre-tokenizer, decoder and post-processor, each with the Rust library's semantics for
// the subset Gemma-style BPE files use. Parsing refuses everything outside that subset.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace gq::hf {

// A "pattern" object: {"String": s} (literal) or {"Regex": r}. Regexes are limited to what
// newline/space splitting needs: alternatives (|) of literal characters, escapes (\n \t \r \f \v
// \xHH, escaped punctuation), \s \S and [classes] of those, each optionally quantified by ?, * or +
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

struct Normalizer {
  struct Step {
    enum Kind { Replace, Prepend } kind;
    Pattern pattern = Pattern::literal(" ");
    std::string content;  // the replacement, or the prefix
  };
  std::vector<Step> steps;  // empty: identity
  static Normalizer parse(const nlohmann::json& j, const std::string& where);
  std::string apply(std::string_view text) const;
};

struct PreTokenizer {
  enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
  struct Split {
    Pattern pattern = Pattern::literal(" ");
    Behavior behavior = Behavior::Isolated;
    bool invert = false;
  };
  std::vector<Split> steps;  // applied in order to every piece; empty pieces are dropped
  static PreTokenizer parse(const nlohmann::json& j, const std::string& where);
  // Words of `text`, as views into it.
  void apply(std::string_view text, std::vector<std::string_view>& words) const;
};

struct Decoder {
  struct Step {
    enum Kind { Replace, ByteFallback, Fuse, Strip } kind = Fuse;
    Pattern pattern = Pattern::literal(" ");
    std::string content;        // Replace: replacement; Strip: the character stripped
    size_t start = 0, stop = 0;  // Strip: at most this many from the start / end of each piece
  };
  std::vector<Step> steps;  // empty: pieces joined with spaces, as the Rust library does
  static Decoder parse(const nlohmann::json& j, const std::string& where);
  std::string apply(std::vector<std::string> pieces) const;
};

// What add_special puts around a single sequence: ids before and after it.
struct PostProcessor {
  std::vector<int32_t> prefix, suffix;
  std::string first_special;  // name of the first special token of the template ("<bos>"), if any
  static PostProcessor parse(const nlohmann::json& j, const std::string& where);
};

// Leftmost-longest matching of a set of strings (Aho-Corasick's LeftmostLongest, which the Rust
// library uses for added tokens) through a byte trie.
class TokenMatcher {
 public:
  void add(std::string_view s, size_t value);
  // The leftmost match at or after `from`, longest there: {begin, end, value}; begin == npos if none.
  struct Match {
    size_t begin, end, value;
  };
  Match find(std::string_view text, size_t from) const;
  bool empty() const { return nodes_.size() <= 1; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, uint32_t>> next;  // sorted by byte
    size_t value = SIZE_MAX;                                // SIZE_MAX: no string ends here
  };
  uint32_t child(uint32_t node, unsigned char b) const;
  std::vector<Node> nodes_{Node{}};
  bool first_byte_[256] = {};
};

}  // namespace gq::hf
