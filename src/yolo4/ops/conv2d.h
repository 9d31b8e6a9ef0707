// conv2d: the op's attributes and config (TT-NN's Conv2dConfig), validation, output spec and
// strategy; weights are packed once at creation (ncnn's create_pipeline), then run many times.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "yolo4/core/activation.h"
#include "yolo4/core/device.h"
#include "yolo4/core/math_fidelity.h"
#include "yolo4/core/tensor.h"
#include "yolo4/kernels/kernels.h"
#include "yolo4/ops/conv2d_weights.h"

namespace yolo4 {

using kernels::WinogradTile;

// Square kernels up to this side.
inline constexpr int kMaxConvKernel = 9;

// The convolution itself: what the weights mean. Output side (H + 2 padding - kernel) / stride
// + 1.
struct Conv2dParams {
  int in_channels = 0;
  int out_channels = 0;
  int kernel = 1;   // square, 1..kMaxConvKernel (1 or 3 in YOLOv4)
  int stride = 1;   // any positive stride
  int padding = 0;  // symmetric, 0..kernel - 1 (same padding: kernel / 2)
  // Channel groups (darknet's groups=): Conv2d takes 1, GroupedConv2d (grouped_conv2d.h) more.
  int groups = 1;
};

// How to run it: the report's Conv2dConfig fields.
struct Conv2dConfig {
  DataType dtype = DataType::FLOAT32;          // output activations
  DataType weights_dtype = DataType::FLOAT32;  // packed weights
  // bfloat8_b weights resident as their blocks (17 bytes per 16 weights, 0.53x bfloat16's
  // memory), decoded at every use; otherwise as the blocks' exact bfloat16 values, which measured
  // faster with every ISA's kernels (docs/perf.md, 2026-12-03 05:00 UTC): the same numbers.
  bool compact_weights = false;
  MathFidelity math_fidelity = MathFidelity::HiFi4;
  // Tests only: LoFi summed in VDPBF16PS's order also on CPUs without it (a slow emulation).
  bool lofi_exact_order = false;
  bool math_approx_mode = false;  // fuse Activation::kMishApprox for kMish (leaky stays exact)
  Activation activation = Activation::kNone;
  std::optional<TensorMemoryLayout> shard_layout;  // empty: the report's rule picks
  int act_block_h_override = 0;  // output pixels per activation block; 0 = automatic
  // Winograd F(2x2, 3x3), F(4x4, 3x3) or F(6x6, 3x3) instead of direct convolution: 3x3
  // stride-1 convs with >= 16 input channels only. F(2x2): 2.25x fewer multiplications, weights
  // 16/9 as large; F(4x4): 4x fewer, weights 4x as large; F(6x6): 5.06x fewer, weights 64/9.
  // Their stride-2 tiles (kF2x2S2, kF4x4S2) take the stride-2 convs: 1.44x and 1.78x fewer,
  // weights 16/9 and 4x as large.
  WinogradTile winograd = WinogradTile::kNone;
};

// How the work is cut: chosen per input shape from the config and the report's rule.
struct ConvStrategy {
  TensorMemoryLayout shard_layout = TensorMemoryLayout::HEIGHT_SHARDED;
  int grid_rows = 1;     // cores splitting output pixels
  int grid_columns = 1;  // cores splitting output channels
  WinogradTile winograd = WinogradTile::kNone;
  // Output pixels (direct) or output tiles (Winograd) packed at once; a multiple of MR.
  int block_pixels = 0;
  int group_tiles = 1;      // Winograd: MR-rows sharing each weight panel (winograd::Run)
  int chunk_kblocks = 0;    // reduction blocks per pass (K blocking)
  std::string_view reason;  // why this layout, for `yolo4 bench --explain`
};

// Checks kernel, stride, padding and channels (not groups); `op` names the op in the message.
void validate_conv_params(const Conv2dParams& params, const char* op);
// Refuses config fields no conv supports (bfloat8_b activations, bad overrides).
void validate_conv_config(const Conv2dConfig& config, const char* op);
// The activation a conv fuses: math_approx_mode turns mish into kMishApprox.
Activation fused_activation(const Conv2dConfig& config);

class Conv2d {
 public:
  // isa: the kernels whose layout the weights are packed in; the op then runs only on a Device
  // with that ISA (a mismatch is refused, naming both).
  Conv2d(const Conv2dParams& params, std::span<const float> weight_oihw,
         std::span<const float> bias, const Conv2dConfig& config = {}, Isa isa = best_isa());

  const Conv2dParams& params() const { return params_; }
  const Conv2dConfig& config() const { return config_; }
  Isa isa() const { return isa_; }
  const char* kernel_name() const { return kernel_.name; }
  size_t weight_bytes() const;

  Shape output_shape(const Shape& input) const;
  ConvStrategy strategy(const Shape& input, int cores) const;
  double flops(const Shape& input) const;  // 2 x multiply-adds of the direct convolution
  // Where the kernel reads the input in place (ConvKernel::window: an RGB stem, HiFi4 or LoFi),
  // its MR-pixel tiles per output row; else 0 (packed).
  int window_tiles_per_row(const Shape& output) const;
  // Whether a pointwise conv's kernel reads an input of this dtype and pixel stride in place
  // (ConvKernel::in_place: 1x1, stride 1, whole blocks of channels in the operands' format, pixels
  // not a multiple of 4 KB apart); else it packs it.
  bool reads_pointwise_in_place(DataType input, int64_t in_pixel_stride) const;

  // Allocates the output on the device (TILE layout).
  Tensor operator()(Device& device, const Tensor& input, const Tensor* residual = nullptr) const;
  // Writes into an existing output, which may be a channel slice of a concat output.
  void run(Device& device, const Tensor& input, const Tensor& output,
           const Tensor* residual = nullptr) const;

 private:
  void validate(const Tensor& input, const Tensor& output, const Tensor* residual) const;
  // The MR-row tiles the cores split: output pixels (by output row where read in place), or
  // Winograd's output tiles.
  int tile_count(const Shape& output, WinogradTile winograd) const;
  // The Winograd block and MR-row group of a strategy whose grid is set; `tiles` MR-rows in all.
  void winograd_blocking(ConvStrategy& strategy, int tiles) const;
  // The work itself, on validated tensors with the strategy already chosen.
  void execute(Device& device, const Tensor& input, const Tensor& output, const Tensor* residual,
               const ConvStrategy& strategy) const;
  // Returns the blocks a core took from another's share (OpRecord::taken).
  int execute_winograd(Device& device, const Tensor& input, const Tensor& output,
                       const Tensor* residual, const ConvStrategy& strategy) const;
  void describe(OpRecord& record, const Tensor& input, const Tensor& output, const Tensor* residual,
                const ConvStrategy& strategy) const;

  Conv2dParams params_;
  Conv2dConfig config_;
  Activation activation_;  // the one fused: config_.activation, approximated in approx mode
  Isa isa_;
  kernels::ConvKernel kernel_;
  ReductionLayout layout_;
  // One set for the direct conv, or one per Winograd position (the 1x1 GEMMs' weights).
  std::vector<PackedConvWeights> weights_;
  AlignedVector<float> packed_bias_;  // [panel][NR], fp32 whatever the weights' dtype
};

}  // namespace yolo4
