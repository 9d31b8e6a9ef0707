#include "yolo4/model/conv_block.h"

#include "yolo4/model/layer_config.h"

namespace yolo4 {

namespace {
Conv2d make_conv(const ConvWeights& w, const ModelOptions& options) {
  const ConvSpec& s = *w.spec;
  return Conv2d({s.in_channels, s.out_channels, s.kernel, s.stride, s.kernel / 2}, w.weight, w.bias,
                conv_config(s, options), options.isa);
}
}  // namespace

ConvBlock::ConvBlock(const Yolov4Weights& weights, std::string_view key, const ModelOptions& options)
    : key_(weights.conv(key).spec->key), conv_(make_conv(weights.conv(key), options)) {}

Tensor ConvBlock::operator()(Device& device, const Tensor& input, const Tensor* residual) const {
  OpScope scope(device, key_);
  Tensor in = input;  // deallocation is the caller's: modules free what they own, as the report
  return conv_(device, in, residual);
}

void ConvBlock::into(Device& device, const Tensor& input, const Tensor& output) const {
  OpScope scope(device, key_);
  conv_.run(device, input, output);
}

Tensor allocate_concat(Device& device, const Shape& pixels_like, int channels, DataType dtype) {
  TensorSpec spec;
  spec.dtype = dtype;
  spec.shape = pixels_like;
  spec.shape.c = channels;
  return device.allocate(spec);
}

}  // namespace yolo4
