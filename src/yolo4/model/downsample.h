// Downsample2..5: the CSP stages of CSPDarknet53 (the report's Down2..Down5). One class, as the
// four differ only in width and in how many residual blocks they hold.
#pragma once

#include <string>
#include <vector>

#include "yolo4/model/conv_block.h"

namespace yolo4 {

// ResBlock: x = x + conv2(conv1(x)), n times; the add is fused into conv2.
class ResBlock {
 public:
  ResBlock(const Yolov4Weights& weights, const std::string& prefix, int blocks,
           const ModelOptions& options);
  Tensor operator()(Device& device, Tensor&& x) const;
  const std::vector<ConvBlock>& convs() const { return convs_; }

 private:
  std::vector<ConvBlock> convs_;  // pairs: module_list.i.0, module_list.i.1
};

class Downsample {
 public:
  // stage: 2..5 ("down2" .. "down5").
  Downsample(const Yolov4Weights& weights, int stage, const ModelOptions& options);
  Tensor operator()(Device& device, const Tensor& input) const;
  std::vector<const ConvBlock*> convs() const;

  static int residual_blocks(int stage);  // 2, 8, 8, 4

 private:
  std::string prefix_;
  ConvBlock conv1_, conv2_, conv3_;
  ResBlock resblock_;
  ConvBlock conv4_, conv5_;
};

}  // namespace yolo4
