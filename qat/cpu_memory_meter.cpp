#include "qat/cpu_memory_meter.h"

#include <atomic>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include "io/error.h"

namespace gq {

struct CpuMemoryMeter::Counter {
  std::atomic<int64_t> current{0}, peak{0};
  void add(int64_t n) {
    const int64_t now = current.fetch_add(n) + n;
    int64_t p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
  }
};

namespace {

// Outlives the meter inside each allocation: storage freed after the meter is gone still finds
// its counter.
struct Allocation {
  c10::DataPtr inner;
  size_t bytes;
  std::shared_ptr<CpuMemoryMeter::Counter> counter;
};

void free_allocation(void* ctx) {
  auto* a = static_cast<Allocation*>(ctx);
  a->counter->add(-int64_t(a->bytes));
  delete a;  // frees the storage through the wrapped allocator's own deleter
}

// Above the default CPU allocator's priority (0) and any other a library might set at startup.
constexpr uint8_t kPriority = 100;
CpuMemoryMeter* g_active = nullptr;

}  // namespace

// LibTorch 2.3 made allocate() non-const and added copy_data().
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define GQ_ALLOCATE_CONST
#define GQ_ALLOCATOR_COPY_DATA 1
#else
#define GQ_ALLOCATE_CONST const
#define GQ_ALLOCATOR_COPY_DATA 0
#endif

struct CountingAllocator : c10::Allocator {
  c10::Allocator* base;
  std::shared_ptr<CpuMemoryMeter::Counter> counter;
  c10::DataPtr allocate(size_t n) GQ_ALLOCATE_CONST override {
    c10::DataPtr inner = base->allocate(n);
    void* data = inner.get();
    const c10::Device device = inner.device();
    counter->add(int64_t(n));
    return {data, new Allocation{std::move(inner), n, counter}, &free_allocation, device};
  }
#if GQ_ALLOCATOR_COPY_DATA
  void copy_data(void* dest, const void* src, std::size_t count) const override { base->copy_data(dest, src, count); }
#endif
};

CpuMemoryMeter::CpuMemoryMeter() : counter_(std::make_shared<Counter>()) {
  if (g_active) throw FormatError("CpuMemoryMeter: only one meter at a time");
  previous_ = c10::GetCPUAllocator();
  allocator_ = std::make_unique<CountingAllocator>();
  allocator_->base = static_cast<c10::Allocator*>(previous_);
  allocator_->counter = counter_;
  c10::SetCPUAllocator(allocator_.get(), kPriority);
  g_active = this;
}

CpuMemoryMeter::~CpuMemoryMeter() {
  c10::SetCPUAllocator(static_cast<c10::Allocator*>(previous_), kPriority);
  g_active = nullptr;
  // The wrapper object itself must outlive storage it handed out only through `counter`, which
  // each allocation holds; freeing `allocator_` here is safe.
}

int64_t CpuMemoryMeter::current_bytes() const { return counter_->current.load(); }
int64_t CpuMemoryMeter::peak_bytes() const { return counter_->peak.load(); }
void CpuMemoryMeter::reset_peak() { counter_->peak.store(counter_->current.load()); }

}  // namespace gq
