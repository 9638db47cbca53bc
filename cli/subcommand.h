// Running another gemma-qat command in this process, exactly as its command line would (same
// parsing, checks and outputs): `compare` drives ptq, train and eval this way, so what it reports
// is what those commands compute.
#pragma once
#include <string>
#include <vector>

namespace gq::cli {

// args: the command line after "gemma-qat", e.g. {"eval", "RUN", "--data", "E"}. A parse error is a
// FormatError naming the command line; the command's own errors propagate as they are.
void run_subcommand(const std::vector<std::string>& args);

// "gemma-qat eval RUN --data E" (for progress lines and errors).
std::string command_line(const std::vector<std::string>& args);

}  // namespace gq::cli
