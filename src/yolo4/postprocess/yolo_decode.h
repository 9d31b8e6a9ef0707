// Decodes YOLOv4's three head outputs into scored boxes in original image pixels.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "yolo4/postprocess/detection.h"
#include "yolo4/io/image_input.h"

namespace yolo4 {

struct DarknetCfg;

// One head output read in place: channel c of grid cell (y, x) is
// data[c * channel_stride + y * y_stride + x * x_stride], so NCHW, NHWC and padded NHWC tensors
// need no copy. NCHW (1, C, H, W): channel_stride = H*W, y_stride = W, x_stride = 1.
struct HeadView {
  const float* data;
  int height, width;
  int64_t channel_stride, x_stride, y_stride;
  int stride;  // 8, 16 or 32 network pixels per cell
};

HeadView nchw_head(const float* data, int height, int width, int stride);
HeadView nhwc_head(const float* data, int height, int width, int channels, int stride);

struct YoloLayer {
  int stride;
  std::array<float, 6> anchors;  // 3 (w, h) pairs in network pixels
  float scale_xy;
};

// YOLOv4's anchors with scale_xy 1 (the PyTorch checkpoints), ordered by stride 8, 16, 32.
std::array<YoloLayer, 3> default_yolo_layers();

// The [yolo] sections of a darknet cfg (mask, anchors, scale_x_y), ordered by stride 8, 16, 32.
// The cfg does not say the stride; the layer with the smallest anchors gets 8 (as in every
// YOLOv3/v4 cfg), whatever the section order.
std::array<YoloLayer, 3> yolo_layers_from_cfg(const DarknetCfg& cfg);

enum class LabelMode {
  kSingle,  // the best class of each anchor, kept when its score > conf_threshold
  kMulti,   // every class whose score > conf_threshold
};

struct DecodeOptions {
  float conf_threshold = 0.3f;
  LabelMode labels = LabelMode::kSingle;
  int num_classes = 80;
};

// Every (anchor, class) scoring above options.conf_threshold, boxes mapped to image pixels by
// transform and clipped to the image; boxes with no area left after clipping are dropped. Order:
// heads as given, then row, column, anchor, class.
std::vector<Detection> decode_yolo(std::span<const HeadView> heads,
                                   std::span<const YoloLayer> layers,
                                   const ImageTransform& transform, const DecodeOptions& options);

}  // namespace yolo4
