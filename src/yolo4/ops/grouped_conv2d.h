// Grouped and depthwise convolution (darknet's `groups=`): input channels split into `groups`
// groups, each convolved with its own out_channels / groups filters. Depthwise (groups ==
// in_channels == out_channels) runs vectorised over channels on the NHWC pixels; other group
// counts first gather each output channel's input channels into planes, in a scratch buffer
// allocated per run (outside the device's arena: correct, slower).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "yolo4/core/aligned_vector.h"
#include "yolo4/core/device.h"
#include "yolo4/core/tensor.h"
#include "yolo4/kernels/kernels.h"
#include "yolo4/ops/conv2d.h"

namespace yolo4 {

class GroupedConv2d {
 public:
  // weight: O x (I / groups) x K x K; bias: O values or empty. Config as Conv2d's, but:
  // weights are stored as float32 holding each weight rounded to weights_dtype (bfloat16, or
  // bfloat8_b blocks of 16 consecutive output channels at the same tap and input plane sharing
  // an exponent), and to bfloat16 for LoFi, whose products of bf16-rounded operands are exact
  // in fp32; accumulation is fp32. The work is split over output rows (HEIGHT): shard_layout,
  // and act_block_h_override do not apply; winograd is refused. isa: the kernels the op runs,
  // as Conv2d's: only on a Device with that ISA.
  GroupedConv2d(const Conv2dParams& params, std::span<const float> weight,
                std::span<const float> bias, const Conv2dConfig& config = {}, Isa isa = best_isa());

  const Conv2dParams& params() const { return params_; }
  const Conv2dConfig& config() const { return config_; }
  Isa isa() const { return isa_; }
  const char* kernel_name() const { return kernel_name_.c_str(); }
  size_t weight_bytes() const { return weights_.size() * sizeof(float); }

  Shape output_shape(const Shape& input) const;
  double flops(const Shape& input) const;  // 2 x multiply-adds

  // Allocates the output on the device (TILE layout, config.dtype).
  Tensor operator()(Device& device, const Tensor& input, const Tensor* residual = nullptr) const;
  // Writes into an existing output, which may be a channel slice of a concat output. The input
  // may be a channel slice or of any layout; activation, then + residual, are fused.
  void run(Device& device, const Tensor& input, const Tensor& output,
           const Tensor* residual = nullptr) const;

 private:
  void validate(const Tensor& input, const Tensor& output, const Tensor* residual) const;
  void execute(Device& device, const Tensor& input, const Tensor& output,
               const Tensor* residual) const;
  bool depthwise() const { return planes_ == 1 && params_.in_channels == params_.out_channels; }

  Conv2dParams params_;
  Conv2dConfig config_;
  Activation activation_;  // the one fused: config_.activation, approximated in approx mode
  Isa isa_;
  const kernels::KernelTable* kernels_;
  std::string kernel_name_;
  int planes_;                    // input channels per group: each output channel reads that many
  int padded_outputs_;            // output channels rounded up to kTileChannels
  AlignedVector<float> weights_;  // [tap][plane][padded_outputs_], rounded as documented
  AlignedVector<float> bias_;     // [padded_outputs_]
};

}  // namespace yolo4
