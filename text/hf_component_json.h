// Reading the JSON of a tokenizer.json component (normalizer, pre_tokenizer, decoder,
// post_processor): its "type", its string fields and the items of a "Sequence" of components.
// Errors name `where`, the component's place in the file.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "io/error.h"

namespace gq::hf {

inline const std::string& type_of(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw FormatError(where + ": expected an object with a \"type\"");
  return j["type"].get_ref<const std::string&>();
}

inline std::string string_at(const nlohmann::json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_string()) throw FormatError(where + ": \"" + key + "\" must be a string");
  return j[key].get<std::string>();
}

// Calls fn(item, where of the item) for each component of a Sequence, listed under `key`
// ("normalizers", "pretokenizers", "decoders", "processors").
template <class Fn>
void for_each_in_sequence(const nlohmann::json& j, const char* key, const std::string& where, Fn fn) {
  if (!j.contains(key) || !j[key].is_array()) throw FormatError(where + ": Sequence without \"" + key + "\"");
  for (size_t i = 0; i < j[key].size(); ++i) fn(j[key][i], where + "." + key + "[" + std::to_string(i) + "]");
}

// A Sequence of normalizers, pre-tokenizers or decoders is the concatenation of their steps.
template <class Component>
void append_sequence(const nlohmann::json& j, const char* key, const std::string& where, Component& out) {
  for_each_in_sequence(j, key, where, [&](const nlohmann::json& item, const std::string& w) {
    Component inner = Component::parse(item, w);
    out.steps.insert(out.steps.end(), inner.steps.begin(), inner.steps.end());
  });
}

// The frame every step-list component shares: null is the empty component, a "Sequence" is the
// concatenation of its items (listed under `sequence_key`), any other type goes to
// `parse_type(type, out)`, which throws unsupported() for a type it does not know.
template <class Component, class ParseType>
Component parse_steps(const nlohmann::json& j, const std::string& where, const char* sequence_key, ParseType parse_type) {
  Component out;
  if (j.is_null()) return out;
  const std::string& type = type_of(j, where);
  if (type == "Sequence")
    append_sequence(j, sequence_key, where, out);
  else
    parse_type(type, out);
  return out;
}

[[noreturn]] inline void unsupported(const std::string& where, const char* component, const std::string& type) {
  throw FormatError(where + ": " + component + " type '" + type + "' is not supported");
}

}  // namespace gq::hf
