#include "text/hf_token_matcher.h"

#include <algorithm>

namespace gq::hf {

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
