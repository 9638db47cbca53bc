// What every harness shares: the readers under test take paths, so the input goes through a file
// of this process's own (libFuzzer runs one input at a time per process, so one file per name is
// enough), and a FormatError is the expected answer to bad input (any other exception escapes
// LLVMFuzzerTestOneInput, reaches std::terminate and counts as a finding).
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace gq::fuzz {

// A folder of this process's own under $TMPDIR (removed at exit), created on first use.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("gq_fuzz_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch_dir(), ec); });
    return d;
  }();
  return dir;
}

// Writes the bytes to scratch_dir()/name (truncating) and returns the path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = (scratch_dir() / name).string();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();  // the harness itself is broken, not the reader
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

// Where touch() leaves its sum: volatile, so the optimizer cannot drop the reads as dead.
inline volatile unsigned touched_sum = 0;

// Reads every byte of a view so AddressSanitizer sees a view that points outside its mapping.
inline void touch(const uint8_t* p, size_t n) {
  unsigned sum = 0;
  for (size_t i = 0; i < n; ++i) sum += p[i];
  touched_sum = touched_sum + sum;
}

}  // namespace gq::fuzz
