// The pre-tokenizer of a tokenizer.json: Split steps (flattened from any Sequence) that cut the
// normalized text into the words the BPE model encodes one by one, with the Rust library's
// NormalizedString::split semantics for every Split behavior.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "text/hf_pattern.h"

namespace gq::hf {

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

}  // namespace gq::hf
