// Temporary folders for the run-folder tests.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace gq::test {

class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / ("gq_run_" + std::to_string(::getpid()) + "_" + std::to_string(n_++))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  std::string str(const std::string& sub = "") const { return sub.empty() ? path_.string() : (path_ / sub).string(); }

 private:
  static inline int n_ = 0;
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

}  // namespace gq::test
