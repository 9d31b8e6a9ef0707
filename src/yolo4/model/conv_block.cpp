#include "yolo4/model/conv_block.h"

#include "yolo4/model/layer_config.h"
#include "yolo4/ops/layout.h"

namespace yolo4 {

namespace {
Conv2d make_conv(const ConvWeights& w, const ModelOptions& options) {
  const ConvSpec& s = *w.spec;
  return Conv2d({s.in_channels, s.out_channels, s.kernel, s.stride, s.kernel / 2}, w.weight, w.bias,
                conv_config(s, options), options.isa);
}
}  // namespace

ConvBlock::ConvBlock(const Yolov4Weights& weights, std::string_view key,
                     const ModelOptions& options)
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

Tensor run_convs(Device& device, const std::vector<ConvBlock>& blocks, Tensor x, int first,
                 int last) {
  for (int i = first; i <= last; ++i) {
    Tensor next = blocks[i - 1](device, x);
    deallocate(x);
    x = std::move(next);
  }
  return x;
}

Tensor conv_beside(Device& device, const ConvBlock& conv, const Tensor& conv_input,
                   const Tensor& other, std::string_view scope) {
  const int c = conv.conv().params().out_channels;
  Tensor cat = allocate_concat(device, other.shape(), c + other.shape().c, other.dtype());
  conv.into(device, conv_input, cat.channel_slice(0, c));
  scoped(device, scope, [&] { copy_into(device, other, cat.channel_slice(c, other.shape().c)); });
  return cat;
}

Tensor allocate_concat(Device& device, const Shape& pixels_like, int channels, DataType dtype) {
  TensorSpec spec;
  spec.dtype = dtype;
  spec.shape = pixels_like;
  spec.shape.c = channels;
  return device.allocate(spec);
}

}  // namespace yolo4
