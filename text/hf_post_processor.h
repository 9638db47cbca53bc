// The post_processor of a tokenizer.json, for a single sequence: what add_special puts around it
// (TemplateProcessing, possibly inside a Sequence beside ByteLevel, which leaves ids alone).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace gq::hf {

// Ids before and after the sequence.
struct PostProcessor {
  std::vector<int32_t> prefix, suffix;
  std::string first_special;  // name of the first special token of the template ("<bos>"), if any
  static PostProcessor parse(const nlohmann::json& j, const std::string& where);
};

}  // namespace gq::hf
