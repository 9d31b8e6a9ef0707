#include "yolo4/model/layer_config.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>

namespace yolo4 {

namespace {
struct LayerOverride {
  std::string_view key;  // a conv key ("down5.conv1") or a module prefix ending in '.'
  std::optional<TensorMemoryLayout> shard_layout;
  int act_block_h = 0;  // 0: automatic
  std::string_view why;
};

// Layers not listed use the report's rule (Conv2d::strategy); an entry records a measured win.
constexpr std::array<LayerOverride, 0> kOverrides{};

// A conv key or a module prefix ending in '.'.
struct WinogradLayer {
  std::string_view key;
  bool with_fp32_weights;  // false: only with bfloat16 or bfloat8_b weights
  std::string_view why;
};

// The stride-1 3x3 convs that run as Winograd (`conv2d_bench --precision=fp32|bf16`, 320,
// 2 threads, direct -> Winograd): 1.4-1.6x faster from 80x80 down to 20x20 in both precisions,
// and 1.3x for 512->512 at 10x10. 512->1024 at 10x10 gains 1.4x with bf16 weights, but with fp32
// weights its 16/9 larger weights (34 MB a conv) make it slower than direct. down1.conv6 (32
// input channels at 160x160) breaks even, so down1 stays direct.
constexpr std::array<WinogradLayer, 17> kWinogradLayers{{
    {"down2.", true, "64->64 at 80x80: 1.4x"},
    {"down3.", true, "128->128 at 40x40: 1.5-1.6x"},
    {"down4.", true, "256->256 at 20x20: 1.5-1.7x"},
    {"down5.", true, "512->512 at 10x10: 1.3-1.4x"},
    {"neek.conv10", true, "256->512 at 20x20"},
    {"neek.conv12", true, "256->512 at 20x20"},
    {"neek.conv17", true, "128->256 at 40x40: 1.5x"},
    {"neek.conv19", true, "128->256 at 40x40: 1.5x"},
    {"head.conv1", true, "128->256 at 40x40: 1.5x"},
    {"head.conv5", true, "256->512 at 20x20"},
    {"head.conv7", true, "256->512 at 20x20"},
    {"head.conv9", true, "256->512 at 20x20"},
    {"neek.conv2", false, "512->1024 at 10x10: 1.4x in bf16, slower in fp32"},
    {"neek.conv5", false, "512->1024 at 10x10"},
    {"head.conv13", false, "512->1024 at 10x10"},
    {"head.conv15", false, "512->1024 at 10x10"},
    {"head.conv17", false, "512->1024 at 10x10"},
}};

bool matches(std::string_view key, std::string_view pattern) {
  if (!pattern.empty() && pattern.back() == '.') return key.substr(0, pattern.size()) == pattern;
  return key == pattern;
}

bool runs_winograd(const ConvSpec& spec, const ModelOptions& options) {
  if (!options.winograd || spec.kernel != 3 || spec.stride != 1) return false;
  const bool fp32_weights = options.weights_dtype == DataType::FLOAT32;
  return std::any_of(kWinogradLayers.begin(), kWinogradLayers.end(), [&](const WinogradLayer& l) {
    return matches(spec.key, l.key) && (l.with_fp32_weights || !fp32_weights);
  });
}
}  // namespace

Conv2dConfig conv_config(const ConvSpec& spec, const ModelOptions& options) {
  Conv2dConfig config;
  config.dtype = options.dtype;
  config.weights_dtype = options.weights_dtype;
  config.math_fidelity = options.math_fidelity;
  config.math_approx_mode = options.math_approx_mode;
  config.activation = spec.activation;
  config.winograd = runs_winograd(spec, options);
  // The heads leave the network for decoding: keep them float32 whatever the activations.
  if (!spec.batch_norm) config.dtype = DataType::FLOAT32;
  for (const LayerOverride& o : kOverrides) {
    if (!matches(spec.key, o.key)) continue;
    if (o.shard_layout) config.shard_layout = o.shard_layout;
    if (o.act_block_h) config.act_block_h_override = o.act_block_h;
  }
  return config;
}

}  // namespace yolo4
