// Layout and type conversions: plain host arrays (NHWC or NCHW float) <-> tensors of either
// layout and activation dtype (float32, bfloat16).
#pragma once

#include <vector>

#include "yolo4/core/device.h"
#include "yolo4/core/tensor.h"

namespace yolo4 {

// A host tensor holding a copy of a plain NHWC float array (rounded to bfloat16 if asked).
Tensor from_nhwc(const float* data, const Shape& shape, Layout layout = Layout::TILE,
                 DataType dtype = DataType::FLOAT32);
// A host tensor from an NCHW float array (the layout of PyTorch and of .npy test data).
Tensor from_nchw(const float* data, const Shape& shape, Layout layout = Layout::TILE,
                 DataType dtype = DataType::FLOAT32);
// Plain float arrays out of any tensor (TILE padding and slice strides dropped).
std::vector<float> to_nhwc(const Tensor& tensor);
std::vector<float> to_nchw(const Tensor& tensor);

// ttnn.to_layout: a copy in the other layout, allocated on the device.
Tensor to_layout(Device& device, const Tensor& tensor, Layout layout);

// Copies `source` into `destination` of the same shape and dtype (typically a channel slice of
// a concat output), split over the device's cores by rows.
void copy_into(Device& device, const Tensor& source, const Tensor& destination);

}  // namespace yolo4
