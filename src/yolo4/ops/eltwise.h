// Element-wise ops: a standalone activation and the residual add (ttnn.mish, ttnn.add), for
// where YOLOv4 does not fuse them into a convolution.
#pragma once

#include "yolo4/core/device.h"
#include "yolo4/core/tensor.h"
#include "yolo4/core/activation.h"

namespace yolo4 {

// out = activation(in), allocated on the device in TILE layout (kNone makes a copy) with the
// input's dtype: float32, or bfloat16 computed in fp32 and rounded once to bfloat16. The input
// may be of any layout or a channel slice; a TILE input's padding channels must be zeros, as
// every op writes them.
Tensor activation(Device& device, const Tensor& input, Activation activation);
inline Tensor mish(Device& device, const Tensor& input) {
  return activation(device, input, Activation::kMish);
}
// YOLOv4's leaky ReLU: slope kLeakySlope (0.1) below zero.
inline Tensor leaky_relu(Device& device, const Tensor& input) {
  return activation(device, input, Activation::kLeaky);
}

// out = a + b for tensors of the same shape and dtype (float32, or bfloat16 added in fp32 and
// rounded once); their layouts may differ. Output in TILE layout with that dtype.
Tensor add(Device& device, const Tensor& a, const Tensor& b);

}  // namespace yolo4
