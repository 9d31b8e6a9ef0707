// Activations the convolutions fuse into their output (and eltwise applies standalone).
#pragma once

#include <string_view>

namespace yolo4 {

// kMishApprox is mish computed faster, to the error bounds below (vmish_approx in
// kernels/vec_math.h): what conv2d fuses for kMish under math_approx_mode. Leaky slope is
// YOLOv4's 0.1. kLogistic is the sigmoid 1 / (1 + e^-x), kSwish x * sigmoid(x); both are
// within a few ulp of their float values (vlogistic in kernels/vec_math.h). kLogistic is the
// only one with f(0) != 0 (0.5): ops keep TILE padding channels zero regardless.
enum class Activation { kNone, kMish, kLeaky, kMishApprox, kLogistic, kRelu, kSwish };

inline constexpr float kLeakySlope = 0.1f;

// kMishApprox's documented error against mish, for every finite x: absolute, and relative to
// max(|mish(x)|, kMishApproxRelFloor).
inline constexpr float kMishApproxMaxAbsError = 2.0e-5f;
inline constexpr float kMishApproxMaxRelError = 8.0e-5f;
inline constexpr float kMishApproxRelFloor = 1e-30f;

std::string_view to_string(Activation activation);

// A darknet .cfg `activation=` value: linear (kNone), leaky, mish, logistic, relu, swish
// (exact, case-sensitive as darknet's); anything else throws naming the supported ones.
Activation parse_darknet_activation(std::string_view name);

}  // namespace yolo4
