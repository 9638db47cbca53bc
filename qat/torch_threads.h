// LibTorch CPU set-up in one place: the intra-op thread count (1.13 defaults to
// hardware_concurrency()/2 threads, 1 on a 2-vCPU machine; 2.x to the physical-core count) and the
// process's allocation policy for the tensors a step frees and allocates again.
#pragma once

namespace gq {

// n <= 0: $OMP_NUM_THREADS if set, else every hardware thread. Returns the count in effect.
// Also calls retain_freed_cpu_memory().
int set_torch_threads(int n);

// LibTorch's CPU allocator is plain malloc, and glibc serves each allocation over 32 MB (and, by its
// dynamic threshold, many smaller ones) with a fresh mmap that free() unmaps: every training step
// then page-faults and zero-fills its weight-sized tensors (fake-quant weights, their masks,
// gradients) again. On an E2B-width layer stack that kernel work was a quarter of a QAT step's time
// and made the step 1.9x a plain one, the plain one itself 1.5x slower than with reuse. Serving
// everything from the heap and never trimming it makes freed memory come back to the next step
// already mapped; the process's resident size stays at its peak, which a training or inference
// process reaches every step anyway. Idempotent; GQ_MALLOC_DEFAULT=1 leaves glibc's policy as is.
void retain_freed_cpu_memory();

}  // namespace gq
