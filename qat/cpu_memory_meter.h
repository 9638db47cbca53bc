// Counts the bytes LibTorch's CPU allocator hands out while an instance lives: the current and peak
// total of live CPU tensor storage (what `plan --train` estimates; CUDA has its own allocator stats).
// One meter at a time; tensors allocated before it existed are not counted, and storage it counted
// is uncounted when freed, even after the meter is gone.
#pragma once
#include <cstdint>
#include <memory>

namespace gq {

struct CountingAllocator;

class CpuMemoryMeter {
 public:
  CpuMemoryMeter();   // installs a counting wrapper around the default CPU allocator
  ~CpuMemoryMeter();  // puts the previous allocator back
  CpuMemoryMeter(const CpuMemoryMeter&) = delete;
  CpuMemoryMeter& operator=(const CpuMemoryMeter&) = delete;

  int64_t current_bytes() const;
  int64_t peak_bytes() const;
  void reset_peak();  // peak := current

  struct Counter;

 private:
  std::shared_ptr<Counter> counter_;
  void* previous_;  // c10::Allocator*
  std::unique_ptr<CountingAllocator> allocator_;
};

}  // namespace gq
