// One Conv_Bn_Activation of the reference model: BatchNorm folded into the conv at load, the
// activation (and a residual add, where the dataflow has one) fused into the conv's output.
#pragma once

#include <string_view>
#include <vector>

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

// Runs blocks[first-1] .. blocks[last-1] (numbered as the reference names them: conv1 is 1), each
// consuming the previous output, which is freed as soon as it is used. Pass `x` by std::move
// when the caller no longer needs it.
Tensor run_convs(Device& device, const std::vector<ConvBlock>& blocks, Tensor x, int first,
                 int last);

// torch.cat([conv(conv_input), other]): conv writes its half in place, `other` is copied in (it
// comes from another module). `scope` names the copy for the profiler.
Tensor conv_beside(Device& device, const ConvBlock& conv, const Tensor& conv_input,
                   const Tensor& other, std::string_view scope);

// A tensor of `channels` channels with the given pixels, for producers to fill slice by slice
// (the report's sharded concat: no copy).
Tensor allocate_concat(Device& device, const Shape& pixels_like, int channels, DataType dtype);

}  // namespace yolo4
