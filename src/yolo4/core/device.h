// Device: the CPU's core grid (a worker thread per core) and its activation allocator.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "yolo4/core/cpu_features.h"
#include "yolo4/core/memory.h"
#include "yolo4/core/profiling.h"
#include "yolo4/core/tensor.h"
#include "yolo4/core/thread_pool.h"

namespace yolo4 {

class Device {
 public:
  // threads <= 0: one per online core. isa: the kernels every op runs on this device (default:
  // the best this CPU has); the device is their one owner. Ops without weights take their
  // kernels from it; ops and networks whose weights are packed for an ISA refuse a device with
  // another (validate_device_isa), so one run never mixes kernels.
  // pinning: see ThreadPinning (pinned by default: the calling thread becomes core 0).
  explicit Device(int threads = 0, Isa isa = best_isa(),
                  ThreadPinning pinning = ThreadPinning::kPinned);

  int num_cores() const { return pool_.size(); }
  Isa isa() const { return isa_; }
  ThreadPool& pool() { return pool_; }
  ActivationAllocator& allocator() { return allocator_; }

  // An activation from the allocator (arena or heap, as the allocator's mode says).
  Tensor allocate(const TensorSpec& spec);

  size_t current_bytes() const { return allocator_.current_bytes(); }
  size_t peak_bytes() const { return allocator_.peak_bytes(); }

  // Profiling: ops report to the observer (none by default) under the current scope path.
  void set_observer(OpObserver* observer) { observer_ = observer; }
  OpObserver* observer() const { return observer_; }
  void push_scope(std::string_view name) { scopes_.emplace_back(name); }
  void pop_scope() { scopes_.pop_back(); }
  std::string scope_path() const;

 private:
  ThreadPool pool_;
  Isa isa_;
  ActivationAllocator allocator_;
  OpObserver* observer_ = nullptr;
  std::vector<std::string_view> scopes_;  // names outlive their scopes: no copies per op
};

// Fails unless `device` runs the kernels `packed_for` (the ISA whose layout `what`'s weights
// were packed in), naming both.
void validate_device_isa(const Device& device, Isa packed_for, std::string_view what);

// ttnn.deallocate: the tensor's memory returns to the device once no view uses it.
inline void deallocate(Tensor& tensor) {
  tensor.deallocate();
}

// CPUs this process may run on (its affinity mask).
int usable_cpu_count();
// One thread per usable CPU.
int default_thread_count();

}  // namespace yolo4
