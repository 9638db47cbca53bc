// `train --nproc N`: the ranks of a single-machine data-parallel run as processes, each this very
// binary re-executed with the command line it was given plus --rank / --world-size / --master-addr
// / --master-port (docs/distributed.md).
#pragma once
#include <string>
#include <vector>

namespace gq::cli {

// Starts `nproc` ranks of the current command (its own argv, read back from /proc/self/cmdline,
// minus `drop_flag` and its value, plus `extra` and the rank flags), rendezvousing on a free
// loopback port, and waits for all of them. A rank that fails stops the others (SIGTERM); throws
// FormatError naming the first rank that failed. The ranks die with the launcher.
void launch_local_ranks(int nproc, const std::string& drop_flag, const std::vector<std::string>& extra);

}  // namespace gq::cli
