// Each CLI command registers itself on the app; main() only dispatches and reports errors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace gq::cli {

void add_info_command(CLI::App& app);
void add_logits_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_plan_command(CLI::App& app);

// "2,17,5" -> {2, 17, 5}; throws FormatError on anything else.
std::vector<int64_t> parse_ids(const std::string& text);

}  // namespace gq::cli
