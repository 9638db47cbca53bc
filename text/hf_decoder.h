// The decoder of a tokenizer.json: Replace, ByteFallback, Fuse and Strip steps (flattened from any
// Sequence) that turn the pieces of decoded ids back into text, as the Rust library does.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "text/hf_pattern.h"

namespace gq::hf {

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

}  // namespace gq::hf
