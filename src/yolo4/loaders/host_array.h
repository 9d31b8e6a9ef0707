// A float32 array in host memory: what the file loaders hand to the model.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace yolo4 {

struct HostArray {
  std::vector<int64_t> shape;  // row-major (C order); empty for a scalar
  std::vector<float> data;
};

// Tensors by name, e.g. a PyTorch state_dict ("down1.conv1.conv.0.weight" -> array).
using WeightMap = std::map<std::string, HostArray>;

}  // namespace yolo4
