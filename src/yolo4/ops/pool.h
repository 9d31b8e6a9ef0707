// Max pooling: darknet's [maxpool] layer (any size, stride and padding) and YOLOv4's SPP block
// (stride 1, same padding, kernels 5, 9 and 13).
#pragma once

#include <array>

#include "yolo4/core/device.h"
#include "yolo4/core/tensor.h"

namespace yolo4 {

// darknet's maxpool_layer: output H = (H_in + padding - size) / stride + 1 (W alike), the window
// of output row y covering input rows y * stride - padding / 2 onwards (padding / 2 before the
// image, the rest after it). size 2 stride 2 halves even sizes (26 -> 13); stride 1 with the
// default padding keeps the shape for any size.
struct MaxPool2dParams {
  int size = 2;
  int stride = 2;
  int padding = -1;  // -1: darknet's default, size - 1
};

// Max pool over size x size windows; padded positions never win (as -inf). float32 or bfloat16
// (compared exactly as floats; the output is the winning element itself, never rounded). Output
// in TILE layout of the input's dtype; the input may be any layout or a channel slice (a TILE
// input's padding channels must be zeros, as every op writes them). Throws unless size >= 1,
// stride >= 1, padding -1 or 0..2 * (size - 1) (every window overlaps the image) and the output
// is at least 1x1.
Tensor max_pool2d(Device& device, const Tensor& input, const MaxPool2dParams& params);
// The same into an existing tensor of the output's shape and the input's dtype, typically a
// channel slice of a concat output: a slice gets exactly its C channels per pixel (its
// neighbours untouched), a TILE output its padding channels zeroed too. Output must not overlap
// the input's channels.
void max_pool2d(Device& device, const Tensor& input, const Tensor& output,
                const MaxPool2dParams& params);

// Stride-1 max pool with kernel / 2 padding on every side (kernel odd, so the output keeps the
// input's shape, as PyTorch's MaxPool2d(kernel, 1, kernel / 2)): the general pool with size
// kernel, stride 1 and padding kernel - 1.
Tensor max_pool2d(Device& device, const Tensor& input, int kernel);
void max_pool2d(Device& device, const Tensor& input, const Tensor& output, int kernel);

// The SPP pools {5, 9, 13} of one input, computed incrementally: pool9 = pool5(pool5) and
// pool13 = pool5(pool9), which is exact for stride-1 max pools with -inf padding.
std::array<Tensor, 3> spp_pools(Device& device, const Tensor& input);
// The same into existing tensors (typically channel slices of the SPP concat, which may also
// hold the input in another slice); each as the into-overload of max_pool2d.
void spp_pools(Device& device, const Tensor& input, const Tensor& pool5_out,
               const Tensor& pool9_out, const Tensor& pool13_out);

}  // namespace yolo4
