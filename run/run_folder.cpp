#include "run/run_folder.h"

#include <filesystem>

#include "io/folder_swap.h"
#include "io/stale_temporaries.h"

namespace gq::run_folder {

namespace fs = std::filesystem;

bool is_run_folder(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(path) / kCheckpoint / kConfig, ec) && !fs::exists(fs::path(path) / kConfig, ec);
}

std::string checkpoint_dir(const std::string& path) { return is_run_folder(path) ? checkpoint_of(path) : path; }

std::string checkpoint_of(const std::string& run_dir) { return (fs::path(run_dir) / kCheckpoint).string(); }

std::string metrics_path(const std::string& run_dir) { return (fs::path(run_dir) / kMetrics).string(); }

std::string file_in(const std::string& checkpoint_dir, const std::string& name) {
  return (fs::path(checkpoint_dir) / name).string();
}

std::string tokenizer_file(const std::string& path) {
  const std::string dir = checkpoint_dir(path);
  std::error_code ec;
  for (const char* name : kTokenizers)
    if (fs::exists(fs::path(dir) / name, ec)) return file_in(dir, name);
  return "";
}

bool recover_interrupted_save(const std::string& run_dir) {
  const bool restored = recover_folder_swap(checkpoint_of(run_dir));
  remove_stale_temporaries(checkpoint_of(run_dir));  // staging folders of killed saves
  return restored;
}

}  // namespace gq::run_folder
