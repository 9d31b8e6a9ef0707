// The YOLOv4 architecture as data: its 110 convolutions in darknet yolov4.cfg order (which is
// also the order of their parameters in a .weights file), each named by the PyTorch state_dict
// prefix of Tianxiaomo's pytorch-YOLOv4 (models.py), whose .pth checkpoints we load.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "yolo4/core/activation.h"
#include "yolo4/loaders/darknet_cfg.h"

namespace yolo4 {

struct ConvSpec {
  // State_dict prefix: the conv is "<key>.conv.0", its BatchNorm "<key>.conv.1".
  std::string_view key;
  int in_channels, out_channels, kernel, stride;  // padding is kernel / 2 ("same")
  bool batch_norm;        // false only for the three head outputs, which have a bias instead
  Activation activation;  // kNone for darknet's "linear"
};

inline constexpr int kYolov4ConvCount = 110;

// All convs in cfg order.
std::span<const ConvSpec> yolov4_convs();

// The conv with state_dict prefix `key`; fails for unknown keys.
const ConvSpec& yolov4_conv(std::string_view key);

// Number of weights of `spec` (OIHW).
inline int64_t weight_count(const ConvSpec& spec) {
  return int64_t{spec.out_channels} * spec.in_channels * spec.kernel * spec.kernel;
}

// Verifies that `cfg` describes this architecture: every [convolutional] matches its spec
// (filters, size, stride, pad, batch_normalize, activation, and input channels as its routes
// and shortcuts give them), and the maxpool/upsample/yolo layers are those of yolov4.cfg.
// Fails naming cfg path:line with expected vs found.
void check_cfg_matches(const DarknetCfg& cfg);

}  // namespace yolo4
