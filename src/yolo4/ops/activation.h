// Activations that YOLOv4 fuses into its convolutions.
#pragma once

#include <string_view>

namespace yolo4 {

enum class Activation { kNone, kMish, kLeaky };  // leaky slope is YOLOv4's 0.1

inline constexpr float kLeakySlope = 0.1f;

std::string_view to_string(Activation activation);

}  // namespace yolo4
