// Neck: SPP (max pools 5/9/13 concatenated as [pool13, pool9, pool5, x]) and PAN (nearest x2
// upsampling, lateral 1x1 convs), leaky 0.1 throughout. The report's Neck ("neek" in its
// checkpoint).
#pragma once

#include <array>
#include <vector>

#include "yolo4/model/conv_block.h"

namespace yolo4 {

class Neck {
 public:
  Neck(const Yolov4Weights& weights, const ModelOptions& options);
  // Returns {x20, x13, x6}: the features the head consumes at strides 8, 16 and 32.
  std::array<Tensor, 3> operator()(Device& device, const Tensor& d5, const Tensor& d4,
                                   const Tensor& d3) const;

  std::vector<const ConvBlock*> convs() const {
    std::vector<const ConvBlock*> all;
    for (const ConvBlock& c : convs_) all.push_back(&c);
    return all;
  }

 private:
  const ConvBlock& conv(int i) const { return convs_[i - 1]; }  // conv(1) .. conv(20)
  std::vector<ConvBlock> convs_;
};

}  // namespace yolo4
