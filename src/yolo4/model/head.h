// Head: three 255-channel output convs (bias, no BN) at strides 8, 16 and 32, with the
// downsampling path between them. The report's Head.
#pragma once

#include <array>
#include <vector>

#include "yolo4/model/conv_block.h"

namespace yolo4 {

class Head {
 public:
  Head(const Yolov4Weights& weights, const ModelOptions& options);
  // Inputs are the neck's {x20, x13, x6}; outputs the raw heads at strides 8, 16, 32.
  std::array<Tensor, 3> operator()(Device& device, const Tensor& input1, const Tensor& input2,
                                   const Tensor& input3) const;

  std::vector<const ConvBlock*> convs() const {
    std::vector<const ConvBlock*> all;
    for (const ConvBlock& c : convs_) all.push_back(&c);
    return all;
  }

 private:
  const ConvBlock& conv(int i) const { return convs_[i - 1]; }  // conv(1) .. conv(18)
  std::vector<ConvBlock> convs_;
};

}  // namespace yolo4
