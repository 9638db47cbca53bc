// A one-line progress bar on stderr (redrawn with \r when stderr is a terminal, printed every ~10%
// otherwise so logs stay short).
#pragma once
#include <chrono>
#include <cstdio>
#include <string>

#include <unistd.h>

namespace gq::cli {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total)
      : label_(std::move(label)), total_(total), tty_(isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()) {}

  // `extra` is appended, e.g. "loss 3.21 | 1840 tok/s".
  void update(int64_t done, const std::string& extra = "") {
    const double frac = total_ > 0 ? double(done) / double(total_) : 1.0;
    const int tenth = int(frac * 10);
    if (!tty_ && tenth == last_tenth_ && done != total_) return;
    last_tenth_ = tenth;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double eta = done > 0 ? secs * double(total_ - done) / double(done) : 0.0;
    const int width = 24, fill = int(frac * width);
    std::string bar(size_t(fill), '#');
    bar.resize(size_t(width), '.');
    std::fprintf(stderr, "%s%s [%s] %lld/%lld %s | %.0fs, ETA %.0fs%s", tty_ ? "\r" : "", label_.c_str(), bar.c_str(),
                 (long long)done, (long long)total_, extra.c_str(), secs, eta, tty_ ? "   " : "\n");
    if (tty_ && done == total_) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  std::string label_;
  int64_t total_;
  bool tty_;
  int last_tenth_ = -1;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace gq::cli
