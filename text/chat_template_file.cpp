#include "text/chat_template_file.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/error.h"
#include "io/text_file.h"

namespace gq {

namespace fs = std::filesystem;
using nlohmann::json;

std::string chat_template_of(const std::string& dir, const json& tok_cfg, const std::string& config_path) {
  const fs::path jinja = fs::path(dir) / "chat_template.jinja";
  std::error_code ec;
  if (fs::is_regular_file(jinja, ec)) return read_text_file(jinja.string());
  if (!tok_cfg.is_object() || !tok_cfg.contains("chat_template") || tok_cfg["chat_template"].is_null()) return "";
  const json& t = tok_cfg["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {  // [{"name": "default", "template": "..."}, ...]
    std::string first;
    for (const json& e : t) {
      if (!e.is_object() || !e.contains("template") || !e["template"].is_string()) continue;
      if (first.empty()) first = e["template"].get<std::string>();
      if (e.value("name", "") == "default") return e["template"].get<std::string>();
    }
    return first;
  }
  throw FormatError(config_path + ": chat_template: expected a string or a list of {name, template}");
}

std::string chat_template_in_folder(const std::string& dir) {
  const fs::path path = fs::path(dir) / "tokenizer_config.json";
  std::error_code ec;
  json cfg;
  if (fs::is_regular_file(path, ec)) {
    try {
      cfg = json::parse(read_text_file(path.string()));
    } catch (const json::exception& e) {
      throw FormatError(path.string() + ": malformed JSON: " + e.what());
    }
  }
  return chat_template_of(dir, cfg, path.string());
}

}  // namespace gq
