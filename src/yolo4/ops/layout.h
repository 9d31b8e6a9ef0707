// Layout conversions: plain host arrays (NHWC or NCHW) <-> tensors, ROW_MAJOR <-> TILE.
#pragma once

#include <vector>

#include "yolo4/core/device.h"
#include "yolo4/core/tensor.h"

namespace yolo4 {

// A host tensor holding a copy of a plain NHWC float array.
Tensor from_nhwc(const float* data, const Shape& shape, Layout layout = Layout::TILE);
// A host tensor from an NCHW float array (the layout of PyTorch and of .npy test data).
Tensor from_nchw(const float* data, const Shape& shape, Layout layout = Layout::TILE);
// Plain arrays out of any tensor (TILE padding and slice strides dropped).
std::vector<float> to_nhwc(const Tensor& tensor);
std::vector<float> to_nchw(const Tensor& tensor);

// ttnn.to_layout: a copy in the other layout, allocated on the device.
Tensor to_layout(Device& device, const Tensor& tensor, Layout layout);

}  // namespace yolo4

namespace yolo4 {

// Copies `source` into `destination` of the same shape (typically a channel slice of a concat
// output), split over the device's cores by rows.
void copy_into(Device& device, const Tensor& source, const Tensor& destination);

}  // namespace yolo4
