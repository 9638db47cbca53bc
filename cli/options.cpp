#include "cli/options.h"

#include <CLI/CLI.hpp>

#include <vector>

namespace gq::cli {

CLI::Option* add_threads_option(CLI::App* cmd, int& threads, const std::string& what) {
  return cmd->add_option("--threads", threads, what + " (default: all cores)")->check(CLI::Range(1, kMaxThreads));
}

CLI::Option* add_gguf_type_option(CLI::App* cmd, std::string& type, const std::string& what) {
  const std::vector<std::string> types(std::begin(kGgufTypes), std::end(kGgufTypes));
  std::string list;
  for (const std::string& t : types) list += (list.empty() ? "" : ", ") + t;
  return cmd->add_option("--type", type, what + ": " + list + " (default f16)")->check(CLI::IsMember(types));
}

}  // namespace gq::cli
