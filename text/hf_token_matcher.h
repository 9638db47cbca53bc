// Leftmost-longest matching of a set of strings (Aho-Corasick's LeftmostLongest, which the Rust
// library uses to cut added tokens out of the text) through a byte trie.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace gq::hf {

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
