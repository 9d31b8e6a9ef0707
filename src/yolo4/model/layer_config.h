// Per-layer choices as data: which convs run as Winograd, keyed by the conv's shape (not its
// name), so that every network built from a cfg gets them. Everything else follows
// ModelOptions and the report's sharding rule (Conv2d::strategy).
#pragma once

#include <string_view>

#include "yolo4/core/activation.h"
#include "yolo4/model/conv_table.h"
#include "yolo4/model/options.h"
#include "yolo4/ops/conv2d.h"

namespace yolo4 {

// What the per-layer table looks at.
struct ConvLayerShape {
  int in_channels = 0, out_channels = 0, kernel = 1, stride = 1, groups = 1;
  Activation activation = Activation::kNone;
  bool feeds_decoder = false;  // read only by [yolo] layers: kept float32 for decoding
};

// The Conv2dConfig for one conv of a network.
Conv2dConfig conv_config(const ConvLayerShape& shape, const ModelOptions& options);

// Why conv_config gives the conv its Winograd tile, or none: the table row it matched, "" for a
// conv Winograd never applies to (not an ungrouped 3x3).
std::string_view winograd_reason(const ConvLayerShape& shape, const ModelOptions& options);

// The same for one of YOLOv4's convs (the heads are the convs without BatchNorm).
Conv2dConfig conv_config(const ConvSpec& spec, const ModelOptions& options);

}  // namespace yolo4
