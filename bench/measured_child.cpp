#include "bench/measured_child.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "io/error.h"

namespace gq::bench {

nlohmann::json run_measured(const std::vector<std::string>& argv) {
  int fd[2];
  if (pipe(fd) != 0) throw FormatError("bench: pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fd[1], 1);
    close(fd[0]);
    close(fd[1]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "bench: cannot run %s\n", args[0]);
    _exit(127);
  }
  close(fd[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  close(fd[0]);
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw FormatError("bench: " + argv[0] + (argv.size() > 1 ? " " + argv[1] : std::string()) + " failed");
  const size_t cut = out.find_last_of('\n', out.size() >= 2 ? out.size() - 2 : 0);
  nlohmann::json j = nlohmann::json::parse(cut == std::string::npos ? out : out.substr(cut + 1));
  j["peak_rss_kb"] = ru.ru_maxrss;
  return j;
}

}  // namespace gq::bench
