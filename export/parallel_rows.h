// Splits [0, rows) into contiguous ranges, one per thread (formats/ and export/ are torch-free, so
// plain std::thread). The first exception thrown by any range is rethrown on the caller's thread.
#pragma once
#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace gq {

inline int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? int(n) : 1;
}

template <class Fn>
void parallel_rows(int64_t rows, int threads, Fn&& fn) {
  const int64_t n = std::max<int64_t>(1, std::min<int64_t>(threads, rows));
  if (n <= 1) {
    if (rows > 0) fn(int64_t(0), rows);
    return;
  }
  std::exception_ptr error;
  std::mutex mu;
  std::vector<std::thread> pool;
  const int64_t step = (rows + n - 1) / n;
  for (int64_t b = 0; b < rows; b += step) {
    const int64_t e = std::min(rows, b + step);
    pool.emplace_back([&, b, e] {
      try {
        fn(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
    });
  }
  for (std::thread& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace gq
