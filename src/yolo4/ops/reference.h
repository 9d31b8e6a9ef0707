// Naive, obviously correct versions of every op, on plain NHWC float arrays. Tests compare the
// fast paths against these element by element; nothing else calls them.
#pragma once

#include <vector>

#include "yolo4/core/activation.h"
#include "yolo4/core/tensor.h"
#include "yolo4/ops/pool.h"

namespace yolo4::reference {

float activate(float x, Activation activation);  // in double precision internally

// weight O x (I / groups) x K x K; output NHWC with shape {n, ho, wo, out_channels}. Output
// channel o of group g = o / (out_channels / groups) reads input channels of that group only.
std::vector<float> conv2d(const std::vector<float>& input, const Shape& in,
                          const std::vector<float>& weight_oihw, const std::vector<float>& bias,
                          int out_channels, int kernel, int stride, int padding,
                          Activation activation, int groups = 1);

// darknet's maxpool_layer; output shape {n, (h + padding - size) / stride + 1, (w alike), c}.
std::vector<float> max_pool2d(const std::vector<float>& input, const Shape& in,
                              const MaxPool2dParams& params);
// Stride 1, kernel odd, kernel / 2 padding on each side: the output keeps the input's shape.
std::vector<float> max_pool2d(const std::vector<float>& input, const Shape& in, int kernel);
// Output shape {n, scale * h, scale * w, c}.
std::vector<float> upsample_nearest(const std::vector<float>& input, const Shape& in, int scale);
std::vector<float> concat_channels(const std::vector<std::vector<float>>& inputs,
                                   const std::vector<Shape>& shapes);

}  // namespace yolo4::reference
