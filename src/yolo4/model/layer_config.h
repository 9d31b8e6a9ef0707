// Per-layer choices as data: the shard layout, activation block and precision overrides of each
// conv, as the report sets them per conv. Everything not listed follows ModelOptions and the
// report's sharding rule.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "yolo4/model/conv_table.h"
#include "yolo4/model/options.h"
#include "yolo4/ops/conv2d.h"

namespace yolo4 {

struct LayerOverride {
  std::string_view key;  // a conv key ("down5.conv1") or a module prefix ending in '.'
  std::optional<TensorMemoryLayout> shard_layout;
  int act_block_h = 0;  // 0: automatic
  std::string_view why;
};

std::span<const LayerOverride> layer_overrides();

// Convs that run as Winograd F(2x2, 3x3) when ModelOptions::winograd is set: a conv key or a
// module prefix ending in '.', as measured with bench/conv2d_bench.
struct WinogradLayer {
  std::string_view key;
  bool with_fp32_weights;  // false: only with bfloat16 or bfloat8_b weights
  std::string_view why;
};

std::span<const WinogradLayer> winograd_layers();

// The Conv2dConfig for one conv of the model.
Conv2dConfig conv_config(const ConvSpec& spec, const ModelOptions& options);

}  // namespace yolo4
