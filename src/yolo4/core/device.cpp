#include "yolo4/core/device.h"

#include <sched.h>

#include <thread>

#include "yolo4/core/error.h"

namespace yolo4 {

int usable_cpu_count() {
  // The affinity mask, not the machine: a container or taskset may grant fewer CPUs.
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : int(n);
}

int default_thread_count() {
  return usable_cpu_count();
}

Device::Device(int threads, Isa isa, ThreadPinning pinning)
    : pool_(threads <= 0 ? default_thread_count() : threads, pinning), isa_(isa) {
  YOLO4_CHECK(isa_supported(isa), "this CPU cannot run the ", to_string(isa), " kernels");
}

void validate_device_isa(const Device& device, Isa packed_for, std::string_view what) {
  YOLO4_CHECK(device.isa() == packed_for, what, ": weights packed for the ", to_string(packed_for),
              " kernels cannot run on a device with the ", to_string(device.isa()),
              " kernels; create the Device with the ISA the weights were packed for");
}

Tensor Device::allocate(const TensorSpec& spec) {
  return Tensor(spec, allocator_.allocate(spec.bytes()));
}

std::string Device::scope_path() const {
  std::string path;
  for (std::string_view s : scopes_) {
    if (!path.empty()) path += '.';
    path += s;
  }
  return path;
}

}  // namespace yolo4
