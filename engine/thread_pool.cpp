#include "engine/thread_pool.h"

#include <algorithm>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GQ_CPU_RELAX() _mm_pause()
#else
#define GQ_CPU_RELAX() std::this_thread::yield()
#endif

namespace gq::engine {

namespace {
// About 50 µs of pause instructions before a worker sleeps: longer than the gap between two ops
// of a decode step, short enough not to hold a core that another process wants.
constexpr int kSpins = 20000;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { work(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
}

namespace {
// Part p of n items split into `parts`: [p * n / parts, (p + 1) * n / parts).
int64_t part_begin(int64_t n, int parts, int p) { return n * p / parts; }
}  // namespace

void ThreadPool::run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int parts = threads();
  if (grain > 0 && n / grain < parts) parts = int(std::max<int64_t>(1, n / grain));
  if (parts == 1) return fn(0, n);
  job_ = &fn;
  job_n_ = n;
  job_parts_ = parts;
  pending_.store(int(workers_.size()), std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  fn(0, part_begin(n, parts, 1));
  while (pending_.load(std::memory_order_acquire) != 0) GQ_CPU_RELAX();
}

void ThreadPool::work(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int spin = 0; g == seen && spin < kSpins; ++spin) {
      GQ_CPU_RELAX();
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) return;
    }
    if (index < job_parts_) (*job_)(part_begin(job_n_, job_parts_, index), part_begin(job_n_, job_parts_, index + 1));
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

namespace {
std::unique_ptr<ThreadPool>& pool_slot() {
  static std::unique_ptr<ThreadPool> pool = std::make_unique<ThreadPool>(1);
  return pool;
}
}  // namespace

ThreadPool& engine_pool() { return *pool_slot(); }

void set_engine_threads(int n) {
  if (n <= 0) n = int(std::max(1u, std::thread::hardware_concurrency()));
  if (n == engine_pool().threads()) return;
  pool_slot().reset();
  pool_slot() = std::make_unique<ThreadPool>(n);
}

}  // namespace gq::engine
