// Where a Hugging Face tokenizer folder keeps its chat template (Jinja source): chat_template.jinja,
// else tokenizer_config.json's "chat_template" (a string, or a list of {name, template} whose
// "default" entry, else first, is taken). The GGUF exporter writes it as tokenizer.chat_template and
// `run` recognises it (text/chat_format.h), so both read it here.
#pragma once
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace gq {

// `tokenizer_config`: the parsed tokenizer_config.json of `dir` (null or {} when it has none);
// `config_path` names it in errors. "" when the folder has no template.
std::string chat_template_of(const std::string& dir, const nlohmann::json& tokenizer_config, const std::string& config_path);
// The same, reading `dir`/tokenizer_config.json when it is there.
std::string chat_template_in_folder(const std::string& dir);

}  // namespace gq
