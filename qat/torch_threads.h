// LibTorch thread set-up in one place: 1.13 defaults to hardware_concurrency()/2 intra-op threads
// (1 on a 2-vCPU machine), 2.x to the physical-core count.
#pragma once

namespace gq {

// n <= 0: $OMP_NUM_THREADS if set, else every hardware thread. Returns the count in effect.
int set_torch_threads(int n);

}  // namespace gq
