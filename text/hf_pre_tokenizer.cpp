#include "text/hf_pre_tokenizer.h"

#include <algorithm>
#include <tuple>

#include "io/error.h"
#include "text/hf_component_json.h"

namespace gq::hf {

using nlohmann::json;

PreTokenizer PreTokenizer::parse(const json& j, const std::string& where) {
  return parse_steps<PreTokenizer>(j, where, "pretokenizers", [&](const std::string& type, PreTokenizer& p) {
    if (type == "Split") {
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
      unsupported(where, "pre_tokenizer", type);
    }
  });
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

}  // namespace gq::hf
