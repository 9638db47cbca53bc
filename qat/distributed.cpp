#include "qat/distributed.h"

#include <chrono>
#include <cstdlib>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ATen/ATen.h>

#include "io/error.h"

#ifdef GQ_WITH_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef GQ_WITH_C10D_NCCL
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace gq {

#ifndef GQ_WITH_C10D_GLOO
// Configured without Gloo's headers (qat/CMakeLists.txt): no process group to build.
struct DataParallelGroup::Impl {};
DataParallelGroup::DataParallelGroup(const DistributedOptions& opt) : opt_(opt) {
  throw FormatError("this gemma-qat was built without c10d's Gloo headers (Debian: libgloo-dev); data-parallel "
                    "training is unavailable");
}
DataParallelGroup::~DataParallelGroup() = default;
void DataParallelGroup::allreduce_sum(const std::vector<at::Tensor>&) {}
void DataParallelGroup::broadcast(const std::vector<at::Tensor>&, int) {}
void DataParallelGroup::barrier() {}
void DataParallelGroup::run(const char*, const std::vector<at::Tensor>&, bool, int) {}
#else

struct DataParallelGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  // LibTorch 1.13: ProcessGroupGloo is a c10d::ProcessGroup; 2.x: a c10d::Backend. Both spell the
  // constructor, Options and the collectives alike, so the concrete type is all this file names.
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef GQ_WITH_C10D_NCCL
  // Built at the first collective on CUDA tensors (every rank reaches it in the same call), so
  // CPU-only runs never touch CUDA. Its rendezvous keys live under their own prefix in the store.
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
};

namespace {

bool is_loopback(const std::string& addr) { return addr == "localhost" || addr.rfind("127.", 0) == 0; }

// Flat buckets of at most this many bytes: one collective each, bounded extra memory.
constexpr int64_t kBucketBytes = int64_t(64) << 20;

}  // namespace

DataParallelGroup::DataParallelGroup(const DistributedOptions& opt) : opt_(opt), impl_(std::make_unique<Impl>()) {
  if (opt_.world_size < 1 || opt_.rank < 0 || opt_.rank >= opt_.world_size)
    throw FormatError("--rank " + std::to_string(opt_.rank) + " is outside --world-size " + std::to_string(opt_.world_size));
  if (opt_.master_port < 1 || opt_.master_port > 65535)
    throw FormatError("--master-port " + std::to_string(opt_.master_port) + " is not a TCP port");
  const auto timeout = std::chrono::milliseconds(int64_t(opt_.timeout_s) * 1000);
  const std::string where = opt_.master_addr + ":" + std::to_string(opt_.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(opt_.master_port);
    so.isServer = opt_.rank == 0;
    so.numWorkers = size_t(opt_.world_size);
    so.waitWorkers = true;
    so.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(opt_.master_addr, so);
    auto go = c10d::ProcessGroupGloo::Options::create(timeout);
    // One machine: loopback. Several: the interface GLOO_SOCKET_IFNAME names (as PyTorch reads
    // it), else the one this host's name resolves to.
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (is_loopback(opt_.master_addr))
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else if (ifname && *ifname)
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else
      go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, opt_.rank, opt_.world_size, go);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw FormatError("rank " + std::to_string(opt_.rank) + " of " + std::to_string(opt_.world_size) +
                      ": rendezvous at " + where + " failed within " + std::to_string(opt_.timeout_s) +
                      " s: " + what.substr(0, what.find('\n')));
  }
}

DataParallelGroup::~DataParallelGroup() = default;

void DataParallelGroup::run(const char* what, const std::vector<at::Tensor>& tensors, bool broadcast, int root) {
  if (opt_.world_size == 1 || tensors.empty()) return;
  // Packed per dtype, in order, into flat CPU buckets: every rank packs the same list identically.
  size_t i = 0;
  while (i < tensors.size()) {
    const at::ScalarType dtype = tensors[i].scalar_type();
    const at::Device device = tensors[i].device();
    std::vector<at::Tensor> bucket;
    int64_t bytes = 0;
    while (i < tensors.size() && tensors[i].scalar_type() == dtype && tensors[i].device() == device &&
           (bucket.empty() || bytes + int64_t(tensors[i].nbytes()) <= kBucketBytes)) {
      bytes += int64_t(tensors[i].nbytes());
      bucket.push_back(tensors[i++]);
    }
#ifdef GQ_WITH_C10D_NCCL
    const bool on_gpu = device.is_cuda();
#else
    const bool on_gpu = false;  // CUDA tensors go through a CPU copy over Gloo
#endif
    std::vector<at::Tensor> flat_parts;
    for (const at::Tensor& t : bucket)
      flat_parts.push_back(on_gpu ? t.detach().reshape(-1) : t.detach().reshape(-1).to(at::kCPU));
    std::vector<at::Tensor> flat{at::cat(flat_parts)};
    // ProcessGroupGloo and ProcessGroupNCCL spell the collectives alike (1.13: ProcessGroup, 2.x:
    // Backend), so one generic body serves both.
    const auto collective = [&](auto& group) {
      if (broadcast) {
        c10d::BroadcastOptions bo;
        bo.rootRank = root;
        group->broadcast(flat, bo)->wait();
      } else {
        group->allreduce(flat)->wait();
      }
    };
    try {
#ifdef GQ_WITH_C10D_NCCL
      if (on_gpu) {
        if (!impl_->nccl) {
          auto no = c10d::ProcessGroupNCCL::Options::create();
          no->timeout = std::chrono::milliseconds(int64_t(opt_.timeout_s) * 1000);
          impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
              c10::make_intrusive<c10d::PrefixStore>("gq_nccl/", impl_->store), opt_.rank, opt_.world_size, no);
        }
        collective(impl_->nccl);
      } else {
        collective(impl_->gloo);
      }
#else
      collective(impl_->gloo);
#endif
    } catch (const std::exception& e) {
      const std::string msg = e.what();
      throw FormatError("rank " + std::to_string(opt_.rank) + ": " + what + " over " + std::to_string(opt_.world_size) +
                        " ranks failed (another rank died or timed out after " + std::to_string(opt_.timeout_s) +
                        " s): " + msg.substr(0, msg.find('\n')));
    }
    int64_t off = 0;
    at::NoGradGuard ng;
    for (const at::Tensor& t : bucket) {
      const int64_t n = t.numel();
      t.copy_(flat[0].narrow(0, off, n).view(t.sizes()));
      off += n;
    }
  }
}

void DataParallelGroup::allreduce_sum(const std::vector<at::Tensor>& tensors) { run("all-reduce", tensors, false, 0); }

void DataParallelGroup::broadcast(const std::vector<at::Tensor>& tensors, int root) { run("broadcast", tensors, true, root); }

void DataParallelGroup::barrier() {
  at::Tensor one = at::ones({1}, at::kFloat);
  allreduce_sum({one});
}
#endif  // GQ_WITH_C10D_GLOO

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw FormatError("cannot open a socket to find a free port");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  if (!ok) throw FormatError("cannot bind a loopback socket to find a free port");
  return ntohs(a.sin_port);
}

}  // namespace gq
