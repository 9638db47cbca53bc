#include "qat/torch_threads.h"

#include <ATen/Parallel.h>

#include <thread>

namespace gq {

int set_torch_threads(int n) {
  if (n <= 0) n = int(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return at::get_num_threads();
}

}  // namespace gq
