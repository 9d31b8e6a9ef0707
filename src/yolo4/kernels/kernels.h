// The micro-kernel contracts and the one dispatch point that picks them per ISA.
// Names state dtype, tile and ISA as XNNPACK's do: f32_conv_12x32__avx512.
#pragma once

#include <cstdint>

#include "yolo4/core/cpu_features.h"
#include "yolo4/ops/activation.h"

namespace yolo4::kernels {

// Packed operands share one reduction order: blocks of kKBlock values.
inline constexpr int kKBlock = 16;

// One MR x NR output tile of a convolution viewed as a GEMM over packed operands.
struct ConvTile {
  const float* a = nullptr;  // packed activations: [kblocks][MR][kKBlock]
  const float* w = nullptr;  // packed weights: [kblocks * kKBlock][NR]
  int kblocks = 0;
  const float* bias = nullptr;  // [NR]; added unless accumulating
  float* out = nullptr;         // row m at out + m * out_stride
  int64_t out_stride = 0;
  int rows = 0;     // valid rows (<= MR); packed rows beyond are zeros and not stored
  int columns = 0;  // valid columns (<= NR)
  bool accumulate = false;  // add onto what out holds (a later chunk of the reduction)
  bool finalize = true;     // apply the activation and the residual (the last chunk)
  Activation activation = Activation::kNone;
  const float* residual = nullptr;  // added after the activation, row stride residual_stride
  int64_t residual_stride = 0;
};

struct F32ConvKernel {
  void (*run)(const ConvTile& tile) = nullptr;
  int mr = 0;
  int nr = 0;
  const char* name = "";
};

// out[i] = activation(in[i]) for n values.
using F32UnaryFn = void (*)(const float* in, float* out, int64_t n, Activation activation);
// out[i] = a[i] + b[i].
using F32AddFn = void (*)(const float* a, const float* b, float* out, int64_t n);

// Runs `iterations` steps of independent FMA chains (throughput-bound) and returns a value that
// depends on all of them; each step is fma_flops_per_step FLOPs. Used to measure the peak.
using F32FmaLoopFn = float (*)(int64_t iterations);

struct KernelTable {
  Isa isa;
  F32ConvKernel f32_conv;
  F32UnaryFn f32_activation;
  F32AddFn f32_add;
  F32FmaLoopFn f32_fma_loop;
  int fma_flops_per_step;
};

// The kernels for an ISA; throws if this CPU cannot run it.
const KernelTable& kernel_table(Isa isa);

}  // namespace yolo4::kernels
