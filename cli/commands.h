// Each CLI command lives in its own cmd_*.cpp and registers itself with GQ_REGISTER_COMMAND, so
// adding a command touches no shared file; main() only dispatches and reports errors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace gq::cli {

using CommandAdder = void (*)(CLI::App& app);

// Registration order is link order; main() sorts nothing and CLI11 lists them as added.
std::vector<CommandAdder>& command_registry();

struct CommandRegistrar {
  explicit CommandRegistrar(CommandAdder add) { command_registry().push_back(add); }
};

#define GQ_REGISTER_COMMAND(fn) static ::gq::cli::CommandRegistrar gq_registrar_##fn(fn)

// "2,17,5" -> {2, 17, 5}; throws FormatError on anything else.
std::vector<int64_t> parse_ids(const std::string& text);

}  // namespace gq::cli
