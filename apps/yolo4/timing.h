// What the commands that time the network share: the input they time it on, and the median.
#pragma once

#include <algorithm>
#include <random>
#include <vector>

#include "yolo4/ops/layout.h"

namespace yolo4::cli {

// A fixed pseudo-random RGB image in [0, 1]: the same input for every timed run.
inline Tensor random_input(int width, int height) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> data(size_t(width) * height * 3);
  for (float& v : data) v = dist(rng);
  return from_nhwc(data.data(), {1, height, width, 3});
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace yolo4::cli
