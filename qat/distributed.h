// Data-parallel training on torch.distributed's c10d: a TCPStore rendezvous (rank 0 serves it),
// ProcessGroupGloo for CPU tensors and, in CUDA builds where it compiles, ProcessGroupNCCL for CUDA
// tensors (otherwise they go through a CPU copy over Gloo; see docs/distributed.md). The only file that includes c10d, so the LibTorch 1.13 (ProcessGroup) and
// 2.x (Backend) spellings stay in distributed.cpp.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace gq {

struct DistributedOptions {
  int rank = 0, world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int timeout_s = 300;  // rendezvous and every collective: a dead rank fails the others after this
};

class DataParallelGroup {
 public:
  // Joins the group (blocks until all world_size ranks arrived, or timeout_s: FormatError).
  explicit DataParallelGroup(const DistributedOptions& opt);
  ~DataParallelGroup();
  DataParallelGroup(const DataParallelGroup&) = delete;
  DataParallelGroup& operator=(const DataParallelGroup&) = delete;

  int rank() const { return opt_.rank; }
  int world_size() const { return opt_.world_size; }
  // In place, every rank the element-wise sum over ranks. Tensors of one dtype are packed into
  // buckets of a flat buffer (one collective each): on the GPU over NCCL, else on the CPU over Gloo.
  void allreduce_sum(const std::vector<at::Tensor>& tensors);
  void broadcast(const std::vector<at::Tensor>& tensors, int root);
  void barrier();

 private:
  void run(const char* what, const std::vector<at::Tensor>& tensors, bool broadcast, int root);
  DistributedOptions opt_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A free TCP port on the loopback interface, for a single-machine group.
int free_loopback_port();

}  // namespace gq
