#include "yolo4/model/layer_config.h"

#include <algorithm>
#include <array>
#include <string_view>

namespace yolo4 {

namespace {

// Which precisions a Winograd rule applies to.
enum class WinogradPrecision {
  kAny,
  kFp32,     // float32 weights and HiFi4 products only
  kReduced,  // bfloat16 or bfloat8_b weights only
};

// The stride-1 3x3 convs that run as Winograd, by channel counts, and the tile each gets.
struct WinogradRule {
  int min_in, max_in, min_out, max_out;
  WinogradPrecision precision;
  WinogradTile tile;
  std::string_view why;
};

// Measured on YOLOv4's shapes (`conv2d_bench --precision=fp32|bf16`, 2 threads; docs/perf.md),
// first match wins. F(2x2): 1.4-1.6x faster than direct from 64->64 at 80x80 to 256->512 at
// 20x20 in both precisions, and 1.3x for 512->512 at 10x10. 512->1024 gains 1.4x with bf16
// weights, but with fp32 weights its 16/9 larger weights (34 MB a conv) make it slower than
// direct. 32->64 at 160x160 breaks even, so convs with fewer than 64 input channels stay
// direct. F(4x4) beats F(2x2) up to 256 channels in fp32, and its weights (4x the direct conv's)
// make it slower from 512; with bf16 operands or weights its rounding error is 11-23x the
// direct conv's (WinogradError), so reduced precision keeps F(2x2).
constexpr std::array<WinogradRule, 3> kWinogradRules{{
    {64, 256, 64, 256, WinogradPrecision::kFp32, WinogradTile::kF4x4,
     "64..256 -> 64..256 in fp32: F(4x4) 1.3-1.4x over F(2x2)"},
    {64, 512, 64, 512, WinogradPrecision::kAny, WinogradTile::kF2x2,
     "64..512 -> 64..512: 1.3-1.7x"},
    {257, 1024, 513, 1024, WinogradPrecision::kReduced, WinogradTile::kF2x2,
     "512 -> 1024: 1.4x in bf16, slower in fp32"},
}};

bool applies(WinogradPrecision precision, const ModelOptions& options) {
  const bool fp32 =
      options.weights_dtype == DataType::FLOAT32 && options.math_fidelity == MathFidelity::HiFi4;
  switch (precision) {
    case WinogradPrecision::kFp32:
      return fp32;
    case WinogradPrecision::kReduced:
      return options.weights_dtype != DataType::FLOAT32;
    default:
      return true;
  }
}

WinogradTile winograd_tile(const ConvLayerShape& s, const ModelOptions& options) {
  if (!options.winograd || s.kernel != 3 || s.stride != 1 || s.groups != 1) {
    return WinogradTile::kNone;
  }
  for (const WinogradRule& r : kWinogradRules) {
    if (s.in_channels >= r.min_in && s.in_channels <= r.max_in && s.out_channels >= r.min_out &&
        s.out_channels <= r.max_out && applies(r.precision, options)) {
      return r.tile;
    }
  }
  return WinogradTile::kNone;
}

// bfloat8_b shares one exponent per 16 weights. A grouped conv's weights are few (k x k per
// channel) and differ widely between channels, so a shared exponent costs accuracy for no
// bandwidth: on Yolo-Fastest, bfloat8_b depthwise weights lose 24 of 28 detections against
// fp32 on the sample images; bfloat16 keeps them.
DataType weights_dtype_for(const ConvLayerShape& s, const ModelOptions& options) {
  if (s.groups > 1 && options.weights_dtype == DataType::BFLOAT8_B) return DataType::BFLOAT16;
  return options.weights_dtype;
}

}  // namespace

Conv2dConfig conv_config(const ConvLayerShape& shape, const ModelOptions& options) {
  Conv2dConfig config;
  config.dtype = shape.feeds_decoder ? DataType::FLOAT32 : options.dtype;
  config.weights_dtype = weights_dtype_for(shape, options);
  config.math_fidelity = options.math_fidelity;
  config.math_approx_mode = options.math_approx_mode;
  config.activation = shape.activation;
  config.winograd = winograd_tile(shape, options);
  return config;
}

Conv2dConfig conv_config(const ConvSpec& spec, const ModelOptions& options) {
  return conv_config({spec.in_channels, spec.out_channels, spec.kernel, spec.stride, 1,
                      spec.activation, !spec.batch_norm},
                     options);
}

}  // namespace yolo4
