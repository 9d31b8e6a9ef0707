#include "yolo4/kernels/peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "yolo4/core/error.h"

namespace yolo4 {

namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The words of [begin, end) summed in four independent chains: loads, not the adds, limit it.
uint64_t sum_words(const uint64_t* begin, const uint64_t* end) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (const uint64_t* p = begin; p + 4 <= end; p += 4) {
    s0 += p[0], s1 += p[1], s2 += p[2], s3 += p[3];
  }
  return s0 + s1 + s2 + s3;
}
}  // namespace

PeakFlops measure_product_peak(Device& device, const kernels::ConvKernel& kernel, double seconds) {
  YOLO4_CHECK(kernel.product_loop && kernel.product_flops_per_step > 0, "conv kernel ", kernel.name,
              " has no product loop to measure its peak with");
  // Calibrate on one core, then run the same count everywhere at once.
  int64_t iterations = 1 << 16;
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    volatile float sink = kernel.product_loop(iterations);
    (void)sink;
    if (seconds_since(start) > seconds / 4 || iterations > (int64_t(1) << 40)) break;
    iterations *= 2;
  }
  const double flops_per_step = kernel.product_flops_per_step;
  const int cores = device.num_cores();
  std::vector<double> per_core(cores, 0.0);
  std::atomic<float> sink{0};
  const auto start = std::chrono::steady_clock::now();
  device.pool().run(cores, [&](int core) {
    const auto core_start = std::chrono::steady_clock::now();
    sink.store(kernel.product_loop(iterations), std::memory_order_relaxed);
    per_core[core] = double(iterations) * flops_per_step / seconds_since(core_start) * 1e-9;
  });
  const double wall = seconds_since(start);
  PeakFlops peak;
  peak.per_core_gflops = *std::min_element(per_core.begin(), per_core.end());
  peak.total_gflops = double(iterations) * flops_per_step * cores / wall * 1e-9;
  return peak;
}

PeakFlops measure_f32_fma_peak(Device& device, double seconds) {
  return measure_product_peak(device, kernels::kernel_table(device.isa()).conv_hifi4, seconds);
}

double measure_read_bandwidth(Device& device, int64_t bytes, int passes) {
  const int cores = device.num_cores();
  const int64_t words_per_core = std::max<int64_t>(bytes / 8 / cores / 4 * 4, 4);
  // Not zeroed here: each core touches its own part first, so that its pages are where that core
  // reads them.
  const auto words = std::make_unique_for_overwrite<uint64_t[]>(size_t(words_per_core * cores));
  std::atomic<uint64_t> sink{0};
  device.pool().run(cores, [&](int core) {
    uint64_t* part = words.get() + core * words_per_core;
    for (int64_t i = 0; i < words_per_core; ++i) part[i] = uint64_t(i);
  });
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    device.pool().run(cores, [&](int core) {
      const uint64_t* part = words.get() + core * words_per_core;
      sink.fetch_add(sum_words(part, part + words_per_core), std::memory_order_relaxed);
    });
    best = std::max(best, double(words_per_core * cores * 8) / seconds_since(start));
  }
  return best;
}

}  // namespace yolo4
