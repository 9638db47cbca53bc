#include "cli/rank_launcher.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io/error.h"
#include "qat/distributed.h"

namespace gq::cli {
namespace {

std::vector<std::string> own_argv() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  size_t start = 0;
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i] == '\0') args.push_back(all.substr(start, i - start)), start = i + 1;
  if (args.empty()) throw FormatError("/proc/self/cmdline: cannot read this process's command line");
  return args;
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(status));
  return "exit status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

void launch_local_ranks(int nproc, const std::string& drop_flag, const std::vector<std::string>& extra) {
  std::vector<std::string> base;
  const std::vector<std::string> argv = own_argv();
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i] == drop_flag) {
      ++i;  // and its value
      continue;
    }
    if (argv[i].rfind(drop_flag + "=", 0) == 0) continue;
    base.push_back(argv[i]);
  }
  base.insert(base.end(), extra.begin(), extra.end());
  const std::string port = std::to_string(free_loopback_port());
  const pid_t launcher = ::getpid();
  std::map<pid_t, int> ranks;
  for (int r = 0; r < nproc; ++r) {
    std::vector<std::string> args = {argv[0]};
    args.insert(args.end(), base.begin(), base.end());
    for (const std::string& a : {std::string("--rank"), std::to_string(r), std::string("--world-size"),
                                 std::to_string(nproc), std::string("--master-addr"), std::string("127.0.0.1"),
                                 std::string("--master-port"), port})
      args.push_back(a);
    const pid_t pid = ::fork();
    if (pid < 0) throw FormatError("cannot start rank " + std::to_string(r) + ": fork: " + std::strerror(errno));
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a killed launcher takes its ranks with it
      if (::getppid() != launcher) ::_exit(1);
      std::vector<char*> cargs;
      for (std::string& a : args) cargs.push_back(a.data());
      cargs.push_back(nullptr);
      ::execv("/proc/self/exe", cargs.data());
      ::_exit(127);
    }
    ranks[pid] = r;
  }
  int failed_rank = -1, failed_status = 0;
  while (!ranks.empty()) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    auto it = ranks.find(pid);
    if (it == ranks.end()) continue;
    const int r = it->second;
    ranks.erase(it);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok && failed_rank < 0) {
      failed_rank = r, failed_status = status;
      for (const auto& [other, _] : ranks) ::kill(other, SIGTERM);  // they would wait for it until the timeout
    }
  }
  if (failed_rank >= 0)
    throw FormatError("rank " + std::to_string(failed_rank) + " of " + std::to_string(nproc) + " failed (" +
                      describe(failed_status) + "); the other ranks were stopped");
}

}  // namespace gq::cli
