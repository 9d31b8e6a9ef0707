// Max pooling as YOLOv4's SPP block uses it: stride 1, same padding, kernels 5, 9 and 13.
#pragma once

#include <array>

#include "yolo4/core/device.h"
#include "yolo4/core/tensor.h"

namespace yolo4 {

// Stride-1 max pool over a kernel x kernel window with kernel / 2 padding on every side (kernel
// odd, so the output keeps the input's shape). Padded positions never win, as PyTorch's
// MaxPool2d with its -inf padding. float32 or bfloat16 (compared exactly as floats; the output
// is the winning element itself, never rounded). Output in TILE layout of the input's dtype; the
// input may be any layout or a channel slice (a TILE input's padding channels must be zeros, as
// every op writes them).
Tensor max_pool2d(Device& device, const Tensor& input, int kernel);
// The same into an existing tensor of the input's shape and dtype, typically a channel slice
// of a concat output: a slice gets exactly its C channels per pixel (its neighbours untouched),
// a TILE output its padding channels zeroed too. Output must not overlap the input's channels.
void max_pool2d(Device& device, const Tensor& input, const Tensor& output, int kernel);

// The SPP pools {5, 9, 13} of one input, computed incrementally: pool9 = pool5(pool5) and
// pool13 = pool5(pool9), which is exact for stride-1 max pools with -inf padding.
std::array<Tensor, 3> spp_pools(Device& device, const Tensor& input);
// The same into existing tensors (typically channel slices of the SPP concat, which may also
// hold the input in another slice); each as the into-overload of max_pool2d.
void spp_pools(Device& device, const Tensor& input, const Tensor& pool5_out,
               const Tensor& pool9_out, const Tensor& pool13_out);

}  // namespace yolo4
