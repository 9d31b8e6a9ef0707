// The machine's measured roofs: the peak of a conv kernel's products (the denominator of every
// utilisation figure) and the memory read bandwidth (the perf sheet's DRAM roof).
#pragma once

#include "yolo4/core/device.h"
#include "yolo4/kernels/kernels.h"

namespace yolo4 {

struct PeakFlops {
  double per_core_gflops = 0;  // one core
  double total_gflops = 0;     // all of the device's cores at once
};

// Runs `kernel`'s product loop (ConvKernel::product_loop, which it must have) on every core of
// the device for about `seconds`.
PeakFlops measure_product_peak(Device& device, const kernels::ConvKernel& kernel,
                               double seconds = 0.2);
// HiFi4's products: the device ISA's fp32 FMAs.
PeakFlops measure_f32_fma_peak(Device& device, double seconds = 0.2);

// Bytes per second that every core of the device, reading its own part of `bytes` at once (far
// past the last-level caches of most CPUs), gets from memory: the best of `passes`.
double measure_read_bandwidth(Device& device, int64_t bytes = int64_t(256) << 20, int passes = 5);

}  // namespace yolo4
