#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

#include "cli/commands.h"

namespace gq::cli {
std::vector<CommandAdder>& command_registry() {
  static std::vector<CommandAdder> registry;
  return registry;
}
}  // namespace gq::cli

int main(int argc, char** argv) {
  CLI::App app{"gemma-qat: quantization-aware training and export for Gemma 4"};
  app.require_subcommand(1);
  for (gq::cli::CommandAdder add : gq::cli::command_registry()) add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    // One line, naming what was wrong; never a stack trace or an abort.
    std::string msg = e.what();
    const auto nl = msg.find('\n');
    if (nl != std::string::npos) msg = msg.substr(0, nl);
    std::cerr << "gemma-qat: error: " << msg << "\n";
    return 1;
  }
  return 0;
}
