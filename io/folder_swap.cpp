#include "io/folder_swap.h"

#include <unistd.h>

#include <filesystem>
#include <optional>

#include "io/error.h"
#include "io/stale_temporaries.h"

namespace gq {
namespace {

namespace fs = std::filesystem;

std::string pid_suffix(const char* what) { return std::string(".") + what + "-" + std::to_string(::getpid()); }

// "out/" names the folder "out": its siblings are "out.tmp-<pid>", not "out/.tmp-<pid>".
std::string without_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

}  // namespace

FolderSwap::FolderSwap(std::string out)
    : out_(without_trailing_slashes(std::move(out))), staging_(out_ + pid_suffix("tmp")) {
  std::error_code ec;
  const fs::path parent = fs::path(out_).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  remove_stale_temporaries(out_);  // staging folders of killed writers of this folder
  fs::remove_all(staging_, ec);
  if (!fs::create_directory(staging_, ec))
    throw FormatError(staging_ + ": cannot create the output folder" + (ec ? ": " + ec.message() : std::string()));
}

FolderSwap::~FolderSwap() {
  std::error_code ec;
  if (!committed_) fs::remove_all(staging_, ec);
}

void FolderSwap::commit() {
  if (committed_) throw FormatError(out_ + ": committed twice");
  const std::string old = out_ + pid_suffix("old");
  std::error_code ec;
  const bool had = fs::exists(fs::symlink_status(out_, ec));
  if (had) {
    fs::remove_all(old, ec);
    fs::rename(out_, old, ec);
    if (ec) throw FormatError(out_ + ": cannot move the previous folder aside: " + ec.message());
  }
  fs::rename(staging_, out_, ec);
  if (ec) {
    const std::string why = out_ + ": cannot rename " + staging_ + " into place: " + ec.message();
    if (had) {
      fs::rename(old, out_, ec);
      if (ec) throw FormatError(why + "; the previous folder is left as " + old + ": " + ec.message());
    }
    throw FormatError(why);
  }
  committed_ = true;
  if (had) fs::remove_all(old, ec);
}

bool recover_folder_swap(const std::string& folder) {
  const std::string out = without_trailing_slashes(folder);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out, ec))) return false;
  const fs::path p(out);
  const fs::path parent = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const std::string prefix = p.filename().string() + ".old-";
  std::optional<fs::path> newest;
  fs::file_time_type newest_time;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0 || name.size() == prefix.size() ||
        name.find_first_not_of("0123456789", prefix.size()) != std::string::npos || !it->is_directory(ec))
      continue;
    const fs::file_time_type t = fs::last_write_time(it->path(), ec);
    if (!newest || t > newest_time) newest = it->path(), newest_time = t;
  }
  if (!newest) return false;
  fs::rename(*newest, out, ec);
  if (ec) throw FormatError(out + ": cannot restore " + newest->string() + ": " + ec.message());
  return true;
}

}  // namespace gq
