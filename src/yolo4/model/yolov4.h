// YOLOv4: Downsample1..5, Neck and Head, called in order with dead tensors deallocated, as the
// report's top-level model.
#pragma once

#include <array>
#include <memory>
#include <string_view>
#include <vector>

#include "yolo4/model/downsample.h"
#include "yolo4/model/downsample1.h"
#include "yolo4/model/head.h"
#include "yolo4/model/neck.h"

namespace yolo4 {

class Yolov4 {
 public:
  // Packs the weights into the kernels' formats; `weights` may be released afterwards. The model
  // is then shared read-only state: any number of sessions and threads may run it at once,
  // each on its own Device.
  explicit Yolov4(const Yolov4Weights& weights, const ModelOptions& options = {});

  // input: (N, H, W, 3) float32 RGB in [0, 1], H and W multiples of 32. Returns the raw heads
  // at strides 8, 16, 32: (N, H/8, W/8, 255), (N, H/16, W/16, 255), (N, H/32, W/32, 255).
  std::array<Tensor, 3> operator()(Device& device, const Tensor& input) const;

  static void validate_input(const Shape& input);
  static double flops(const Shape& input);  // all convs, direct convolution
  size_t weight_bytes() const;              // resident packed weights
  // How much smaller than the network input a conv's output is (1 .. 32).
  static int output_stride(std::string_view key);
  const ModelOptions& options() const { return options_; }
  Isa isa() const { return options_.isa; }  // as Graph::isa(): the Devices' ISA

  // The modules, for module-level tests and profiling.
  const Downsample1& down1() const { return down1_; }
  const Downsample& down(int stage) const { return downs_[stage - 2]; }  // 2..5
  const Neck& neck() const { return neck_; }
  const Head& head() const { return head_; }
  std::vector<const ConvBlock*> convs() const;  // every conv, module by module

 private:
  ModelOptions options_;
  Downsample1 down1_;
  std::vector<Downsample> downs_;
  Neck neck_;
  Head head_;
};

}  // namespace yolo4
