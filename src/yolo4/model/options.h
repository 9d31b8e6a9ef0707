// How to run the model: the precision and threading knobs every command that runs it exposes.
#pragma once

#include <string>
#include <string_view>

#include "yolo4/core/cpu_features.h"
#include "yolo4/core/dtype.h"
#include "yolo4/ops/conv2d.h"

namespace yolo4 {

struct ModelOptions {
  DataType dtype = DataType::FLOAT32;          // activations
  DataType weights_dtype = DataType::FLOAT32;  // packed conv weights
  // bfloat8_b weights resident as blocks (--compact-weights): about half the memory of the
  // bfloat16 values they otherwise stay in, slower (Conv2dConfig::compact_weights).
  bool compact_weights = false;
  MathFidelity math_fidelity = MathFidelity::HiFi4;
  bool math_approx_mode = false;
  // Winograd F(2x2, 3x3) on the stride-1 3x3 convs the layer table lists (layer_config.cpp).
  bool winograd = true;
  // The kernels the weights are packed for: the one place a model's ISA is chosen (--isa).
  // Devices that run the model take it from the model (Graph::isa()); another is refused.
  Isa isa = best_isa();
  // Threads that read, transform and pack the conv weights while the model loads; 0: one per
  // usable CPU.
  int pack_threads = 0;

  // Named configurations:
  //   fp32:   float32 activations and weights, HiFi4, Winograd (the struct's defaults)
  //   bf16:   bfloat16 activations and weights, LoFi, Winograd
  //   report: the report's configuration: bfloat16 activations, bfloat8_b weights, LoFi, all
  //           convs direct
  //   fast:   the report's configuration with Winograd (16/9 larger weights where it runs)
  //   auto:   the one auto_preset(isa) names for this CPU (with the approximate mish where its
  //           table says)
  static ModelOptions preset(std::string_view name, Isa isa = best_isa());
  std::string describe() const;  // e.g. "float32/float32/HiFi4/winograd"
};

// The preset `auto` stands for on this CPU with kernels of `isa`, and why: a table of
// measurements per ISA (options.cpp).
struct AutoPreset {
  std::string_view preset;
  bool approx_mish;  // math_approx_mode on top of the preset
  std::string_view why;

  std::string name() const;  // e.g. "bf16 with the approximate mish"
};
AutoPreset auto_preset(Isa isa);

}  // namespace yolo4
