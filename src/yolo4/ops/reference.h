// Naive, obviously correct versions of every op, on plain NHWC float arrays. Tests compare the
// fast paths against these element by element; nothing else calls them.
#pragma once

#include <vector>

#include "yolo4/core/activation.h"
#include "yolo4/core/tensor.h"

namespace yolo4::reference {

float activate(float x, Activation activation);  // in double precision internally

// weight O x (I / groups) x K x K; output NHWC with shape {n, ho, wo, out_channels}. Output
// channel o of group g = o / (out_channels / groups) reads input channels of that group only.
std::vector<float> conv2d(const std::vector<float>& input, const Shape& in,
                          const std::vector<float>& weight_oihw, const std::vector<float>& bias,
                          int out_channels, int kernel, int stride, int padding,
                          Activation activation, int groups = 1);

std::vector<float> max_pool2d(const std::vector<float>& input, const Shape& in, int kernel);
std::vector<float> upsample_nearest2x(const std::vector<float>& input, const Shape& in);
std::vector<float> concat_channels(const std::vector<std::vector<float>>& inputs,
                                   const std::vector<Shape>& shapes);

}  // namespace yolo4::reference
