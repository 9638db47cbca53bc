// A temporary folder for an export test, removed with everything in it.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

namespace gq::test {

class TempDir {
 public:
  explicit TempDir(const std::string& tag)
      : path_(std::filesystem::temp_directory_path() / (tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(n_++))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int n_ = 0;
  std::filesystem::path path_;
};

}  // namespace gq::test
