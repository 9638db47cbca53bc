#include "qat/torch_threads.h"

#include <ATen/Parallel.h>

#include <cstdlib>
#include <thread>

namespace gq {

int set_torch_threads(int n) {
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
