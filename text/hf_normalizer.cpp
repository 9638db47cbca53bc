#include "text/hf_normalizer.h"

#include "io/error.h"
#include "text/hf_component_json.h"

namespace gq::hf {

using nlohmann::json;

Normalizer Normalizer::parse(const json& j, const std::string& where) {
  return parse_steps<Normalizer>(j, where, "normalizers", [&](const std::string& type, Normalizer& n) {
    if (type == "Replace") {
      n.steps.push_back({Step::Replace, Pattern::parse(j.value("pattern", json()), where), string_at(j, "content", where)});
    } else if (type == "Prepend") {
      n.steps.push_back({Step::Prepend, Pattern::literal(" "), string_at(j, "prepend", where)});
    } else {
      unsupported(where, "normalizer", type);
    }
  });
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
