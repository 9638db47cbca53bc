#include "text/hf_normalizer.h"

#include "io/error.h"
#include "text/hf_component_json.h"

namespace gq::hf {

using nlohmann::json;

Normalizer Normalizer::parse(const json& j, const std::string& where) {
  Normalizer n;
  if (j.is_null()) return n;
  const std::string& type = type_of(j, where);
  if (type == "Sequence") {
    append_sequence(j, "normalizers", where, n);
  } else if (type == "Replace") {
    n.steps.push_back({Step::Replace, Pattern::parse(j.value("pattern", json()), where), string_at(j, "content", where)});
  } else if (type == "Prepend") {
    n.steps.push_back({Step::Prepend, Pattern::literal(" "), string_at(j, "prepend", where)});
  } else {
    throw FormatError(where + ": normalizer type '" + type + "' is not supported");
  }
  return n;
}

std::string Normalizer::apply(std::string_view text) const {
  std::string s(text);
  for (const Step& step : steps) {
    if (step.kind == Step::Replace) s = replace_all(s, step.pattern, step.content);
    else if (!s.empty()) s.insert(0, step.content);  // Prepend leaves an empty string empty
  }
  return s;
}

}  // namespace gq::hf
