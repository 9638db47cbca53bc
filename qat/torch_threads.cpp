#include "qat/torch_threads.h"

#include <ATen/Parallel.h>

#include <malloc.h>

#include <cstdlib>
#include <string_view>
#include <thread>

namespace gq {

void retain_freed_cpu_memory() {
#if defined(__GLIBC__)
  static const bool done = [] {
    const char* keep = std::getenv("GQ_MALLOC_DEFAULT");
    if (keep && std::string_view(keep) == "1") return true;
    mallopt(M_MMAP_MAX, 0);                // no allocation gets its own mapping
    mallopt(M_TRIM_THRESHOLD, -1);         // never give the heap's top back (mallopt(3): -1 disables trimming)
    mallopt(M_TOP_PAD, 64 << 20);          // grow the heap in 64 MB steps
    return true;
  }();
  (void)done;
#endif
}

int set_torch_threads(int n) {
  retain_freed_cpu_memory();
  if (n <= 0) {
    // OpenMP's own variable wins over the core count: parallel test runs set it to 1, because
    // spinning OpenMP workers on an oversubscribed machine run many times slower.
    const char* env = std::getenv("OMP_NUM_THREADS");
    n = env ? std::atoi(env) : 0;
    if (n <= 0) n = int(std::max(1u, std::thread::hardware_concurrency()));
  }
  at::set_num_threads(n);
  return at::get_num_threads();
}

}  // namespace gq
