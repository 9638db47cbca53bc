#include "cli/subcommand.h"

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "io/error.h"

namespace gq::cli {

std::string command_line(const std::vector<std::string>& args) {
  std::string s = "gemma-qat";
  for (const std::string& a : args) s += " " + a;
  return s;
}

void run_subcommand(const std::vector<std::string>& args) {
  // A fresh App per call: every command's option state is its own, as in a fresh process.
  CLI::App app{"gemma-qat"};
  app.require_subcommand(1);
  for (CommandAdder add : command_registry()) add(app);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes the vector back to front
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw FormatError(command_line(args) + ": " + e.what());
  }
}

}  // namespace gq::cli
