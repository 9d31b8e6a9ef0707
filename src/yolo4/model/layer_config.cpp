#include "yolo4/model/layer_config.h"

#include <algorithm>
#include <array>

namespace yolo4 {

namespace {
// Layers not listed use the report's rule (Conv2d::strategy); an entry records a measured win.
constexpr std::array<LayerOverride, 0> kOverrides{};

// The stride-1 3x3 convs whose output at 320 is 20x20 or larger and whose input has at least 64
// channels: there the 16 GEMMs outrun the direct conv by 1.4-1.7x (`conv2d_bench ... winograd`).
// At 10x10 the transforms and the 16/9 larger weights cost more than they save; with 32 input
// channels (down1.conv6) the two break even.
constexpr std::array<WinogradLayer, 11> kWinogradLayers{{
    {"down2.", "64->64 at 80x80"},
    {"down3.", "128->128 at 40x40"},
    {"down4.", "256->256 at 20x20"},
    {"neek.conv10", "256->512 at 20x20"},
    {"neek.conv12", "256->512 at 20x20"},
    {"neek.conv17", "128->256 at 40x40"},
    {"neek.conv19", "128->256 at 40x40"},
    {"head.conv1", "128->256 at 40x40"},
    {"head.conv5", "256->512 at 20x20"},
    {"head.conv7", "256->512 at 20x20"},
    {"head.conv9", "256->512 at 20x20"},
}};

bool matches(std::string_view key, std::string_view pattern) {
  if (!pattern.empty() && pattern.back() == '.') return key.substr(0, pattern.size()) == pattern;
  return key == pattern;
}
}  // namespace

std::span<const LayerOverride> layer_overrides() { return kOverrides; }
std::span<const WinogradLayer> winograd_layers() { return kWinogradLayers; }

namespace {
bool runs_winograd(const ConvSpec& spec, const ModelOptions& options) {
  if (!options.winograd || spec.kernel != 3 || spec.stride != 1) return false;
  return std::any_of(kWinogradLayers.begin(), kWinogradLayers.end(),
                     [&](const WinogradLayer& l) { return matches(spec.key, l.key); });
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
