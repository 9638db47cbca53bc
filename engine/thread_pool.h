// The engine's worker threads: a small persistent pool that splits a range of output rows into one
// contiguous part per thread. Workers spin briefly between jobs (a decode step runs a few hundred
// short jobs) and then sleep. Each part is computed by the same code as it would be on one thread,
// so results never depend on the thread count.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gq::engine {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // the caller plus threads - 1 workers
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return int(workers_.size()) + 1; }
  // fn(begin, end) over [0, n) in threads() contiguous parts of at least `grain` items (fewer parts
  // when n is small); the calling thread runs the first part. Not reentrant.
  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void work(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  bool stop_ = false;
  // The current job, read by workers after they see a new generation.
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0;
  int job_parts_ = 0;
};

// The pool every engine op uses; 1 thread until set_engine_threads.
ThreadPool& engine_pool();
// Rebuilds the pool with n threads (0: std::thread::hardware_concurrency()); not while ops run.
void set_engine_threads(int n);

}  // namespace gq::engine
