// Per-layer choices as data: the shard layout and activation block overrides of each conv, as the
// report sets them per conv, and the convs that run as Winograd F(2x2, 3x3). Everything not
// listed follows ModelOptions and the report's sharding rule.
#pragma once

#include "yolo4/model/conv_table.h"
#include "yolo4/model/options.h"
#include "yolo4/ops/conv2d.h"

namespace yolo4 {

// The Conv2dConfig for one conv of the model.
Conv2dConfig conv_config(const ConvSpec& spec, const ModelOptions& options);

}  // namespace yolo4
