// One Conv_Bn_Activation of the reference model: BatchNorm folded into the conv at load, the
// activation (and a residual add, where the dataflow has one) fused into the conv's output.
#pragma once

#include <string_view>

#include "yolo4/model/options.h"
#include "yolo4/model/weights.h"
#include "yolo4/ops/conv2d.h"

namespace yolo4 {

class ConvBlock {
 public:
  ConvBlock(const Yolov4Weights& weights, std::string_view key, const ModelOptions& options);

  // A new output; with `residual`, output = residual + act(conv(input)).
  Tensor operator()(Device& device, const Tensor& input, const Tensor* residual = nullptr) const;
  // Writes into an existing tensor, typically the channel slice of a concat output.
  void into(Device& device, const Tensor& input, const Tensor& output) const;

  const Conv2d& conv() const { return conv_; }
  std::string_view key() const { return key_; }

 private:
  std::string_view key_;
  Conv2d conv_;
};

// Runs fn() with the device's ops named `path` (for the profiler); returns what fn returns.
template <class Fn>
auto scoped(Device& device, std::string_view path, Fn&& fn) {
  OpScope scope(device, path);
  return fn();
}

// A tensor of `channels` channels with the given pixels, for producers to fill slice by slice
// (the report's sharded concat: no copy).
Tensor allocate_concat(Device& device, const Shape& pixels_like, int channels, DataType dtype);

}  // namespace yolo4
