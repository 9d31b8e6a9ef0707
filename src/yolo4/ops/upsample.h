// Nearest-neighbour upsampling by an integer factor (YOLOv4's neck: 2x; ttnn.upsample; darknet's
// [upsample] stride).
#pragma once

#include "yolo4/core/device.h"
#include "yolo4/core/tensor.h"

namespace yolo4 {

// out[n, y, x, c] = in[n, y / scale, x / scale, c], shape {N, scale * H, scale * W, C},
// allocated on the device in TILE layout with the input's dtype (float32 or bfloat16: elements
// are copied, never converted). scale >= 1. The input may be any layout or a channel slice (a
// TILE input's padding channels must be zeros, as every op writes them).
Tensor upsample_nearest(Device& device, const Tensor& input, int scale);

// The same into an existing tensor of shape {N, scale * H, scale * W, C} and the input's dtype,
// typically a channel slice of a concat output (any pixel stride): a slice gets exactly its C
// channels per pixel (its neighbours untouched), a TILE output its padding channels zeroed too.
// Output must not overlap the input.
void upsample_nearest(Device& device, const Tensor& input, const Tensor& output, int scale);

inline Tensor upsample_nearest2x(Device& device, const Tensor& input) {
  return upsample_nearest(device, input, 2);
}
inline void upsample_nearest2x(Device& device, const Tensor& input, const Tensor& output) {
  upsample_nearest(device, input, output, 2);
}

}  // namespace yolo4
