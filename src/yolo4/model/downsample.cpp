#include "yolo4/model/downsample.h"

#include "yolo4/core/error.h"

namespace yolo4 {

ResBlock::ResBlock(const Yolov4Weights& w, const std::string& prefix, int blocks,
                   const ModelOptions& o) {
  for (int i = 0; i < blocks; ++i) {
    const std::string block = prefix + ".resblock.module_list." + std::to_string(i);
    convs_.emplace_back(w, block + ".0", o);
    convs_.emplace_back(w, block + ".1", o);
  }
}

Tensor ResBlock::operator()(Device& device, Tensor&& x) const {
  for (size_t i = 0; i < convs_.size(); i += 2) {
    Tensor h = convs_[i](device, x);
    Tensor next = convs_[i + 1](device, h, &x);  // x + h, fused into the second conv
    deallocate(h);
    deallocate(x);
    x = next;
  }
  return x;
}

int Downsample::residual_blocks(int stage) {
  YOLO4_CHECK(stage >= 2 && stage <= 5, "Downsample stage must be 2..5, got ", stage);
  constexpr int kBlocks[] = {2, 8, 8, 4};
  return kBlocks[stage - 2];
}

Downsample::Downsample(const Yolov4Weights& w, int stage, const ModelOptions& o)
    : prefix_("down" + std::to_string(stage)),
      conv1_(w, prefix_ + ".conv1", o),
      conv2_(w, prefix_ + ".conv2", o),
      conv3_(w, prefix_ + ".conv3", o),
      resblock_(w, prefix_, residual_blocks(stage), o),
      conv4_(w, prefix_ + ".conv4", o),
      conv5_(w, prefix_ + ".conv5", o) {}

std::vector<const ConvBlock*> Downsample::convs() const {
  std::vector<const ConvBlock*> all = {&conv1_, &conv2_, &conv3_};
  for (const ConvBlock& c : resblock_.convs()) all.push_back(&c);
  all.push_back(&conv4_);
  all.push_back(&conv5_);
  return all;
}

Tensor Downsample::operator()(Device& device, const Tensor& input) const {
  Tensor x1 = conv1_(device, input);
  const int half = conv2_.conv().params().out_channels;
  // torch.cat([x4, x2]): conv2 and conv4 write their halves in place.
  Tensor cat = allocate_concat(device, x1.shape(), 2 * half, x1.dtype());
  conv2_.into(device, x1, cat.channel_slice(half, half));
  Tensor x3 = conv3_(device, x1);
  deallocate(x1);
  Tensor r = resblock_(device, std::move(x3));
  conv4_.into(device, r, cat.channel_slice(0, half));
  deallocate(r);
  Tensor x5 = conv5_(device, cat);
  deallocate(cat);
  return x5;
}

}  // namespace yolo4
