#include "yolo4/model/layer_config.h"

#include <array>

namespace yolo4 {

namespace {
// Layers not listed use the report's rule (Conv2d::strategy); an entry records a measured win.
constexpr std::array<LayerOverride, 0> kOverrides{};

bool matches(std::string_view key, std::string_view pattern) {
  if (!pattern.empty() && pattern.back() == '.') return key.substr(0, pattern.size()) == pattern;
  return key == pattern;
}
}  // namespace

std::span<const LayerOverride> layer_overrides() { return kOverrides; }

Conv2dConfig conv_config(const ConvSpec& spec, const ModelOptions& options) {
  Conv2dConfig config;
  config.dtype = options.dtype;
  config.weights_dtype = options.weights_dtype;
  config.math_fidelity = options.math_fidelity;
  config.math_approx_mode = options.math_approx_mode;
  config.activation = spec.activation;
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
