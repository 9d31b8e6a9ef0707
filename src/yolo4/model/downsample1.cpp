#include "yolo4/model/downsample1.h"

namespace yolo4 {

Downsample1::Downsample1(const Yolov4Weights& w, const ModelOptions& o)
    : conv1_(w, "down1.conv1", o),
      conv2_(w, "down1.conv2", o),
      conv3_(w, "down1.conv3", o),
      conv4_(w, "down1.conv4", o),
      conv5_(w, "down1.conv5", o),
      conv6_(w, "down1.conv6", o),
      conv7_(w, "down1.conv7", o),
      conv8_(w, "down1.conv8", o) {}

std::vector<const ConvBlock*> Downsample1::convs() const {
  return {&conv1_, &conv2_, &conv3_, &conv4_, &conv5_, &conv6_, &conv7_, &conv8_};
}

Tensor Downsample1::operator()(Device& device, const Tensor& input) const {
  Tensor x1 = conv1_(device, input);
  Tensor x2 = conv2_(device, x1);
  deallocate(x1);
  // torch.cat([x7, x3]): conv3 and conv7 write their halves in place.
  Tensor cat = allocate_concat(device, x2.shape(), 128, x2.dtype());
  conv3_.into(device, x2, cat.channel_slice(64, 64));
  Tensor x4 = conv4_(device, x2);
  deallocate(x2);
  Tensor x5 = conv5_(device, x4);
  Tensor x6 = conv6_(device, x5, &x4);  // shortcut: x6 + x4, fused
  deallocate(x5);
  deallocate(x4);
  conv7_.into(device, x6, cat.channel_slice(0, 64));
  deallocate(x6);
  Tensor x8 = conv8_(device, cat);
  deallocate(cat);
  return x8;
}

}  // namespace yolo4
