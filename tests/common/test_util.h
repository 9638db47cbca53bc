// What the torch-free test suites share: the fixture folders, temporary folders, whole files,
// FormatError expectations. (tests/qat/fixture_util.h reads fixtures into LibTorch tensors.)
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "io/error.h"

namespace gq::test {

// tests/data/gemma4-tiny/NAME: the tiny Gemma 4 checkpoints with Hugging Face reference outputs.
inline std::string fixture(const std::string& name) { return std::string(GQ_TEST_DATA) + "/gemma4-tiny/" + name; }

// A fresh folder under the system temp dir, removed with everything in it at the end of the scope.
class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("gq_test_" + std::to_string(::getpid()) + "_" + std::to_string(count_++))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // The names of what is in the folder, sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  static inline int count_ = 0;
  std::filesystem::path path_;
};

// Whole files as bytes ("" for a file that cannot be read). A std::filesystem::path converts.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
inline std::vector<uint8_t> read_bytes(const std::string& path) {
  const std::string s = read_file(path);
  return std::vector<uint8_t>(s.begin(), s.end());
}
// Creates the folders above `path` that are missing.
inline void write_file(const std::string& path, const std::string& bytes) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::ofstream(path, std::ios::binary) << bytes;
}

// Runs fn, which must throw FormatError, and returns the message (checked to be one line: the CLI
// prints it as one).
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << "no FormatError thrown";
  return "";
}

// fn must throw a FormatError whose message contains needle.
template <class F>
void expect_format_error(F&& fn, const std::string& needle) {
  try {
    fn();
    FAIL() << "expected FormatError containing '" << needle << "'";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace gq::test

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "in: " << (haystack)
