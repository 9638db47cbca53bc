// The normalizer of a tokenizer.json: Replace and Prepend steps (flattened from any Sequence),
// applied in order to the text between added tokens, as the Rust library does.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "text/hf_pattern.h"

namespace gq::hf {

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

}  // namespace gq::hf
