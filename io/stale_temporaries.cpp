#include "io/stale_temporaries.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

namespace gq {
namespace {

namespace fs = std::filesystem;

bool process_runs(long pid) { return pid > 0 && (::kill(pid_t(pid), 0) == 0 || errno == EPERM); }

// The pid of a "<base><tag><digits>" name, or 0.
long pid_of(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return 0;
  if (name.find_first_not_of("0123456789", prefix.size()) != std::string::npos || name.size() - prefix.size() > 9) return 0;
  return std::strtol(name.c_str() + prefix.size(), nullptr, 10);
}

}  // namespace

int remove_stale_temporaries(const std::string& out) {
  std::string o = out;
  while (o.size() > 1 && o.back() == '/') o.pop_back();
  const fs::path p(o);
  const fs::path parent = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const std::string base = p.filename().string();
  std::error_code ec;
  const bool out_exists = fs::exists(fs::symlink_status(p, ec));
  int removed = 0;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    long pid = pid_of(name, base + ".tmp-");
    // An ".old-" folder is the only copy while `out` is missing (recover_folder_swap restores it).
    if (pid == 0 && out_exists) pid = pid_of(name, base + ".old-");
    if (pid == 0 || pid == long(::getpid()) || process_runs(pid)) continue;
    std::error_code rec;
    if (fs::remove_all(it->path(), rec) > 0 && !rec) ++removed;
  }
  return removed;
}

}  // namespace gq
