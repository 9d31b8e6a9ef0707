// Downsample1: the stem of CSPDarknet53 (the report's Down1).
#pragma once

#include <vector>

#include "yolo4/model/conv_block.h"

namespace yolo4 {

class Downsample1 {
 public:
  Downsample1(const Yolov4Weights& weights, const ModelOptions& options);
  Tensor operator()(Device& device, const Tensor& input) const;
  std::vector<const ConvBlock*> convs() const;

 private:
  ConvBlock conv1_, conv2_, conv3_, conv4_, conv5_, conv6_, conv7_, conv8_;
};

}  // namespace yolo4
