#include "yolo4/kernels/peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "yolo4/kernels/kernels.h"

namespace yolo4 {

namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

PeakFlops measure_f32_fma_peak(Device& device, double seconds) {
  const kernels::KernelTable& k = kernels::kernel_table(device.isa());
  // Calibrate on one core, then run the same count everywhere at once.
  int64_t iterations = 1 << 16;
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    volatile float sink = k.f32_fma_loop(iterations);
    (void)sink;
    if (seconds_since(start) > seconds / 4 || iterations > (int64_t(1) << 40)) break;
    iterations *= 2;
  }
  const int cores = device.num_cores();
  std::vector<double> per_core(cores, 0.0);
  std::atomic<float> sink{0};
  const auto start = std::chrono::steady_clock::now();
  device.pool().run(cores, [&](int core) {
    const auto core_start = std::chrono::steady_clock::now();
    sink.store(k.f32_fma_loop(iterations), std::memory_order_relaxed);
    per_core[core] = double(iterations) * k.fma_flops_per_step / seconds_since(core_start) * 1e-9;
  });
  const double wall = seconds_since(start);
  PeakFlops peak;
  peak.per_core_gflops = *std::min_element(per_core.begin(), per_core.end());
  peak.total_gflops = double(iterations) * k.fma_flops_per_step * cores / wall * 1e-9;
  return peak;
}

}  // namespace yolo4
