// Element-wise ops: a standalone activation and the residual add (ttnn.mish, ttnn.add), for
// where a model does not fuse them into a convolution.
#pragma once

#include "yolo4/core/activation.h"
#include "yolo4/core/device.h"
#include "yolo4/core/tensor.h"

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

// out = activation(a + b) (darknet's [shortcut]) for tensors of the same shape and dtype
// (float32, or bfloat16 computed in fp32 and rounded once); their layouts may differ, either may
// be a channel slice. Output in TILE layout with that dtype.
Tensor add(Device& device, const Tensor& a, const Tensor& b,
           Activation activation = Activation::kNone);
// The same into an existing tensor of a's shape and dtype, typically a channel slice of a
// concat output: a slice gets exactly its C channels per pixel (its neighbours untouched), a
// TILE output its padding channels zeroed too. Output may be a or b itself (in place) but must
// not overlap them otherwise.
void add(Device& device, const Tensor& a, const Tensor& b, const Tensor& output,
         Activation activation = Activation::kNone);

}  // namespace yolo4
