// The machine's measured FMA peak: the denominator of every utilisation figure.
#pragma once

#include "yolo4/core/device.h"

namespace yolo4 {

struct PeakFlops {
  double per_core_gflops = 0;  // fp32 FMA, one core
  double total_gflops = 0;     // all of the device's cores at once
};

// Runs the ISA's FMA loop on every core of the device for about `seconds`.
PeakFlops measure_f32_fma_peak(Device& device, double seconds = 0.2);

}  // namespace yolo4
