// Activations the convolutions fuse into their output (and eltwise applies standalone).
#pragma once

#include <string_view>

namespace yolo4 {

// kMishApprox is mish computed faster, to the error bounds below (vmish_approx in
// kernels/vec_math.h): what conv2d fuses for kMish under math_approx_mode. Leaky slope is
// YOLOv4's 0.1.
enum class Activation { kNone, kMish, kLeaky, kMishApprox };

inline constexpr float kLeakySlope = 0.1f;

// kMishApprox's documented error against mish, for every finite x: absolute, and relative to
// max(|mish(x)|, kMishApproxRelFloor).
inline constexpr float kMishApproxMaxAbsError = 2.0e-5f;
inline constexpr float kMishApproxMaxRelError = 8.0e-5f;
inline constexpr float kMishApproxRelFloor = 1e-30f;

std::string_view to_string(Activation activation);

}  // namespace yolo4
