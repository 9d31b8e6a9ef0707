// Concatenation along channels (ttnn.concat on the last dimension of NHWC), as YOLOv4's SPP
// block and neck join feature maps.
#pragma once

#include <span>

#include "yolo4/core/device.h"
#include "yolo4/core/tensor.h"

namespace yolo4 {

// out[..., offset_i + c] = inputs[i][..., c], where offset_i is the sum of the channels of the
// inputs before i. Inputs share N, H, W and a dtype (float32 or bfloat16: elements are copied,
// never converted) and may be of any layout or channel slices; the output is allocated on the
// device in TILE layout with that dtype.
Tensor concat(Device& device, std::span<const Tensor> inputs);

}  // namespace yolo4
