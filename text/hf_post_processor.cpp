#include "text/hf_post_processor.h"

#include "io/error.h"
#include "text/hf_component_json.h"

namespace gq::hf {

using nlohmann::json;

PostProcessor PostProcessor::parse(const json& j, const std::string& where) {
  PostProcessor pp;
  if (j.is_null()) return pp;
  const std::string& type = type_of(j, where);
  if (type == "Sequence") {
    for_each_in_sequence(j, "processors", where, [&](const json& p, const std::string& w) {
      if (type_of(p, w) == "ByteLevel") return;  // only adjusts offsets; ids are untouched
      PostProcessor inner = parse(p, w);
      if (!pp.prefix.empty() || !pp.suffix.empty()) throw FormatError(w + ": more than one template is not supported");
      pp = std::move(inner);
    });
    return pp;
  }
  if (type != "TemplateProcessing") throw FormatError(where + ": post_processor type '" + type + "' is not supported");
  if (!j.contains("single") || !j["single"].is_array()) throw FormatError(where + ": TemplateProcessing without \"single\"");
  const json& specials = j.value("special_tokens", json::object());
  bool seen_sequence = false;
  for (const json& item : j["single"]) {
    if (item.contains("Sequence")) {
      if (seen_sequence) throw FormatError(where + ": \"single\" holds the sequence twice");
      seen_sequence = true;
    } else if (item.contains("SpecialToken")) {
      const std::string name = string_at(item["SpecialToken"], "id", where + ".single");
      if (!specials.contains(name) || !specials[name].contains("ids") || !specials[name]["ids"].is_array())
        throw FormatError(where + ": special token '" + name + "' has no ids in \"special_tokens\"");
      if (pp.first_special.empty()) pp.first_special = name;
      for (const json& id : specials[name]["ids"]) (seen_sequence ? pp.suffix : pp.prefix).push_back(id.get<int32_t>());
    } else {
      throw FormatError(where + ": unknown item in \"single\": " + item.dump());
    }
  }
  if (!seen_sequence) throw FormatError(where + ": \"single\" never places the sequence");
  return pp;
}

}  // namespace gq::hf
