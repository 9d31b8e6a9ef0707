// Nearest-neighbour 2x upsampling (YOLOv4's neck; ttnn.upsample with scale 2).
#pragma once

#include "yolo4/core/device.h"
#include "yolo4/core/tensor.h"

namespace yolo4 {

// out[n, y, x, c] = in[n, y / 2, x / 2, c], shape {N, 2H, 2W, C}, allocated on the device in
// TILE layout with the input's dtype (float32 or bfloat16: elements are copied, never
// converted). The input may be any layout or a channel slice (a TILE input's padding channels
// must be zeros, as every op writes them).
Tensor upsample_nearest2x(Device& device, const Tensor& input);

// The same into an existing tensor of shape {N, 2H, 2W, C} and the input's dtype, typically a
// channel slice of a concat output (any pixel stride): a slice gets exactly its C channels per
// pixel (its neighbours untouched), a TILE output its padding channels zeroed too.
void upsample_nearest2x(Device& device, const Tensor& input, const Tensor& output);

}  // namespace yolo4
