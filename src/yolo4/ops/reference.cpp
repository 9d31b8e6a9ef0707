#include "yolo4/ops/reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace yolo4::reference {

float activate(float x, Activation activation) {
  const double v = x;
  switch (activation) {
    case Activation::kMish:
    case Activation::kMishApprox:  // the reference is exact: approximations are judged against it
      return float(v * std::tanh(std::log1p(std::exp(v))));
    case Activation::kLeaky:
      return float(v > 0 ? v : 0.1 * v);
    case Activation::kLogistic:
      return float(1.0 / (1.0 + std::exp(-v)));
    case Activation::kRelu:
      return float(v > 0 ? v : 0.0);
    case Activation::kSwish:
      return float(v / (1.0 + std::exp(-v)));
    case Activation::kNone:
      break;
  }
  return x;
}

std::vector<float> conv2d(const std::vector<float>& input, const Shape& in,
                          const std::vector<float>& weight, const std::vector<float>& bias, int oc,
                          int k, int stride, int pad, Activation activation, int groups) {
  const int per_group_in = in.c / groups, per_group_out = oc / groups;
  const int ho = (in.h + 2 * pad - k) / stride + 1, wo = (in.w + 2 * pad - k) / stride + 1;
  std::vector<float> out(size_t(in.n) * ho * wo * oc);
  for (int n = 0; n < in.n; ++n)
    for (int y = 0; y < ho; ++y)
      for (int x = 0; x < wo; ++x)
        for (int o = 0; o < oc; ++o) {
          double sum = bias.empty() ? 0.0 : bias[o];
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              const int iy = y * stride - pad + ky, ix = x * stride - pad + kx;
              if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) continue;
              for (int c = 0; c < per_group_in; ++c) {
                const int channel = o / per_group_out * per_group_in + c;
                sum += double(input[((size_t(n) * in.h + iy) * in.w + ix) * in.c + channel]) *
                       weight[((size_t(o) * per_group_in + c) * k + ky) * k + kx];
              }
            }
          out[((size_t(n) * ho + y) * wo + x) * oc + o] = activate(float(sum), activation);
        }
  return out;
}

std::vector<float> max_pool2d(const std::vector<float>& input, const Shape& in,
                              const MaxPool2dParams& params) {
  // darknet's forward_maxpool_layer, NHWC.
  const int size = params.size, stride = params.stride;
  const int padding = params.padding == -1 ? size - 1 : params.padding;
  const int ho = (in.h + padding - size) / stride + 1, wo = (in.w + padding - size) / stride + 1;
  std::vector<float> out(size_t(in.n) * ho * wo * in.c);
  for (int n = 0; n < in.n; ++n)
    for (int y = 0; y < ho; ++y)
      for (int x = 0; x < wo; ++x)
        for (int c = 0; c < in.c; ++c) {
          float best = -std::numeric_limits<float>::infinity();  // padding never wins
          for (int ky = 0; ky < size; ++ky)
            for (int kx = 0; kx < size; ++kx) {
              const int iy = y * stride - padding / 2 + ky, ix = x * stride - padding / 2 + kx;
              if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) continue;
              best = std::max(best, input[((size_t(n) * in.h + iy) * in.w + ix) * in.c + c]);
            }
          out[((size_t(n) * ho + y) * wo + x) * in.c + c] = best;
        }
  return out;
}

std::vector<float> max_pool2d(const std::vector<float>& input, const Shape& in, int kernel) {
  return max_pool2d(input, in, MaxPool2dParams{kernel, 1, kernel - 1});
}

std::vector<float> upsample_nearest(const std::vector<float>& input, const Shape& in, int scale) {
  const int ho = scale * in.h, wo = scale * in.w;
  std::vector<float> out(input.size() * scale * scale);
  for (int n = 0; n < in.n; ++n)
    for (int y = 0; y < ho; ++y)
      for (int x = 0; x < wo; ++x)
        for (int c = 0; c < in.c; ++c)
          out[((size_t(n) * ho + y) * wo + x) * in.c + c] =
              input[((size_t(n) * in.h + y / scale) * in.w + x / scale) * in.c + c];
  return out;
}

std::vector<float> concat_channels(const std::vector<std::vector<float>>& inputs,
                                   const std::vector<Shape>& shapes) {
  int total = 0;
  for (const Shape& s : shapes) total += s.c;
  const int64_t pixels = shapes.front().pixels();
  std::vector<float> out(size_t(pixels) * total);
  int offset = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (int64_t p = 0; p < pixels; ++p)
      for (int c = 0; c < shapes[i].c; ++c)
        out[p * total + offset + c] = inputs[i][p * shapes[i].c + c];
    offset += shapes[i].c;
  }
  return out;
}

}  // namespace yolo4::reference
