#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>
#include <string>

#include "cli/commands.h"

namespace gq::cli {
std::vector<CommandAdder>& command_registry() {
  static std::vector<CommandAdder> registry;
  return registry;
}
}  // namespace gq::cli

namespace {

// One line, naming what was wrong; never a stack trace or an abort.
int report_error(const std::string& what) {
  std::cerr << "gemma-qat: error: " << what.substr(0, what.find('\n')) << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gemma-qat: quantization-aware training and export for Gemma 4"};
  app.require_subcommand(1);
  for (gq::cli::CommandAdder add : gq::cli::command_registry()) add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a ParseError with status 0; a bad flag or value is an error like any other.
    if (e.get_exit_code() == 0) return app.exit(e);
    return report_error(e.what());
  } catch (const std::exception& e) {
    return report_error(e.what());
  }
  return 0;
}
