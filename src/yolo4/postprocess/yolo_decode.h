// Decodes the raw outputs of any number of YOLO heads into scored boxes in original image pixels.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "yolo4/io/image_input.h"
#include "yolo4/postprocess/detection.h"

namespace yolo4 {

// One head output read in place: channel c of grid cell (y, x) is
// data[c * channel_stride + y * y_stride + x * x_stride], so NCHW, NHWC and padded NHWC tensors
// need no copy. NCHW (1, C, H, W): channel_stride = H*W, y_stride = W, x_stride = 1.
struct HeadView {
  const float* data;
  int height, width;
  int64_t channel_stride, x_stride, y_stride;
  int stride;  // network pixels per cell
};

HeadView nchw_head(const float* data, int height, int width, int stride);
HeadView nhwc_head(const float* data, int height, int width, int channels, int stride);

// One [yolo] layer: how its head's channels become boxes. The head has anchors.size() / 2
// anchors of 5 + classes channels each: tx, ty, tw, th, objectness, class scores.
struct YoloLayer {
  std::vector<float> anchors;  // (w, h) pairs in network pixels, this layer's mask
  float scale_xy = 1;          // darknet's scale_x_y
  bool new_coords = false;     // darknet's new_coords: outputs already logistic, (2t)^2 sizes
  int classes = 80;
  int anchor_count() const { return int(anchors.size() / 2); }
};

// YOLOv4's anchors with scale_xy 1 (the PyTorch checkpoints), ordered by stride 8, 16, 32.
std::vector<YoloLayer> default_yolo_layers();

enum class LabelMode {
  kSingle,  // the best class of each anchor, kept when its score > conf_threshold
  kMulti,   // every class whose score > conf_threshold
};

struct DecodeOptions {
  float conf_threshold = 0.3f;
  LabelMode labels = LabelMode::kSingle;
};

// Every (anchor, class) scoring above options.conf_threshold, boxes mapped to image pixels by
// transform and clipped to the image; boxes with no area left after clipping are dropped. Head i
// is decoded with layers[i]. Order: heads as given, then row, column, anchor, class.
std::vector<Detection> decode_yolo(std::span<const HeadView> heads,
                                   std::span<const YoloLayer> layers,
                                   const ImageTransform& transform, const DecodeOptions& options);

}  // namespace yolo4
