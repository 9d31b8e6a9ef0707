#include "yolo4/postprocess/yolo_decode.h"

#include <algorithm>
#include <cmath>

#include "yolo4/core/error.h"

namespace yolo4 {
namespace {

constexpr int kBoxFields = 5;  // tx, ty, tw, th, objectness

float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

// The raw outputs of one anchor in one cell: field f is at base[f * channel_stride].
struct AnchorOutputs {
  const float* base;
  int64_t channel_stride;
  float operator[](int field) const { return base[field * channel_stride]; }
};

// Everything fixed for one head while its cells are decoded.
struct HeadContext {
  const HeadView& head;
  const YoloLayer& layer;
  const ImageTransform& transform;
  const DecodeOptions& options;
};

void check_head(const HeadView& head, const ImageTransform& t) {
  YOLO4_CHECK(head.data != nullptr, "decode_yolo: head of stride ", head.stride, " has no data");
  YOLO4_CHECK(head.stride > 0 && head.height * head.stride == t.net_height &&
                  head.width * head.stride == t.net_width,
              "decode_yolo: head of stride ", head.stride, " has a ", head.height, "x", head.width,
              " grid, expected ", t.net_height / std::max(head.stride, 1), "x",
              t.net_width / std::max(head.stride, 1), " for a ", t.net_width, "x", t.net_height,
              " network input");
}

void check_options(const DecodeOptions& options) {
  YOLO4_CHECK(options.conf_threshold >= 0 && options.conf_threshold < 1,
              "decode_yolo: confidence threshold ", options.conf_threshold, " is outside [0, 1)");
}

void check_layer(const YoloLayer& layer) {
  YOLO4_CHECK(layer.classes > 0 && layer.anchor_count() > 0 && layer.anchors.size() % 2 == 0 &&
                  layer.scale_xy > 0,
              "decode_yolo: a YOLO layer needs classes > 0, (w, h) anchor pairs and scale_xy > 0; "
              "got ",
              layer.classes, " classes, ", layer.anchors.size(), " anchor numbers, scale_xy ",
              layer.scale_xy);
}

// Probabilities from the raw outputs: a logistic here, or already applied by the conv
// (new_coords).
float probability(const HeadContext& ctx, float raw) {
  return ctx.layer.new_coords ? raw : sigmoid(raw);
}

// The anchor's box in image pixels, clipped to the image; false when clipping leaves no area.
bool decode_box(const HeadContext& ctx, const AnchorOutputs& out, int anchor, int gx, int gy,
                Detection& box) {
  const float s = ctx.layer.scale_xy;
  const ImageTransform& t = ctx.transform;
  // scale_x_y lets the centre reach the cell borders: sigmoid * s - (s - 1) / 2 spans wider
  // than [0, 1].
  const float bx = (probability(ctx, out[0]) * s - 0.5f * (s - 1.0f) + static_cast<float>(gx)) /
                   static_cast<float>(ctx.head.width);
  const float by = (probability(ctx, out[1]) * s - 0.5f * (s - 1.0f) + static_cast<float>(gy)) /
                   static_cast<float>(ctx.head.height);
  // new_coords bounds the size to 4x the anchor: (2 t)^2 with t already in [0, 1].
  const float grow_w = ctx.layer.new_coords ? 4 * out[2] * out[2] : std::exp(out[2]);
  const float grow_h = ctx.layer.new_coords ? 4 * out[3] * out[3] : std::exp(out[3]);
  const float bw = grow_w * ctx.layer.anchors[2 * anchor];
  const float bh = grow_h * ctx.layer.anchors[2 * anchor + 1];
  const float cx = t.to_image_x(bx * static_cast<float>(t.net_width));
  const float cy = t.to_image_y(by * static_cast<float>(t.net_height));
  const float half_w = 0.5f * bw / t.scale_x, half_h = 0.5f * bh / t.scale_y;
  const auto width = static_cast<float>(t.image_width);
  const auto height = static_cast<float>(t.image_height);
  box.x1 = std::clamp(cx - half_w, 0.0f, width);
  box.y1 = std::clamp(cy - half_h, 0.0f, height);
  box.x2 = std::clamp(cx + half_w, 0.0f, width);
  box.y2 = std::clamp(cy + half_h, 0.0f, height);
  return box.x2 > box.x1 && box.y2 > box.y1;
}

// Single label: sigmoid is monotonic, so the best class is the largest logit and only that one
// sigmoid is needed.
void add_best_class(const HeadContext& ctx, const AnchorOutputs& out, float objectness,
                    Detection box, std::vector<Detection>& detections) {
  int best = 0;
  float best_logit = out[kBoxFields];
  for (int c = 1; c < ctx.layer.classes; ++c) {
    const float logit = out[kBoxFields + c];
    if (logit > best_logit) {
      best_logit = logit;
      best = c;
    }
  }
  box.class_id = best;
  box.score = objectness * probability(ctx, best_logit);
  if (box.score > ctx.options.conf_threshold) detections.push_back(box);
}

// Multi label: score > conf needs sigmoid(logit) > conf / objectness, i.e. logit above that
// probability's logit; a small margin keeps rounding from dropping a class the exact test keeps.
void add_all_classes(const HeadContext& ctx, const AnchorOutputs& out, float objectness,
                     Detection box, std::vector<Detection>& detections) {
  const float p = ctx.options.conf_threshold / objectness;
  float min_raw = -INFINITY;
  if (p > 0)
    min_raw = ctx.layer.new_coords ? p * (1 - 1e-3f) : std::log(p) - std::log1p(-p) - 1e-3f;
  for (int c = 0; c < ctx.layer.classes; ++c) {
    const float raw = out[kBoxFields + c];
    if (!(raw > min_raw)) continue;
    box.class_id = c;
    box.score = objectness * probability(ctx, raw);
    if (box.score > ctx.options.conf_threshold) detections.push_back(box);
  }
}

void decode_anchor(const HeadContext& ctx, const AnchorOutputs& out, int anchor, int gx, int gy,
                   std::vector<Detection>& detections) {
  const float objectness = probability(ctx, out[4]);
  // score = objectness * class probability <= objectness; the negated test also skips NaN.
  if (!(objectness > ctx.options.conf_threshold)) return;
  Detection box{};
  if (!decode_box(ctx, out, anchor, gx, gy, box)) return;
  if (ctx.options.labels == LabelMode::kSingle) {
    add_best_class(ctx, out, objectness, box, detections);
  } else {
    add_all_classes(ctx, out, objectness, box, detections);
  }
}

void decode_head(const HeadContext& ctx, std::vector<Detection>& detections) {
  const HeadView& head = ctx.head;
  const int64_t anchor_channels = kBoxFields + ctx.layer.classes;
  for (int gy = 0; gy < head.height; ++gy) {
    for (int gx = 0; gx < head.width; ++gx) {
      const float* cell = head.data + gy * head.y_stride + gx * head.x_stride;
      for (int a = 0; a < ctx.layer.anchor_count(); ++a) {
        const AnchorOutputs out{cell + a * anchor_channels * head.channel_stride,
                                head.channel_stride};
        decode_anchor(ctx, out, a, gx, gy, detections);
      }
    }
  }
}

}  // namespace

HeadView nchw_head(const float* data, int height, int width, int stride) {
  return {data, height, width, int64_t{height} * width, 1, width, stride};
}

HeadView nhwc_head(const float* data, int height, int width, int channels, int stride) {
  return {data, height, width, 1, channels, int64_t{width} * channels, stride};
}

std::vector<YoloLayer> default_yolo_layers() {
  return {
      {{12, 16, 19, 36, 40, 28}, 1.0f, false, 80},
      {{36, 75, 76, 55, 72, 146}, 1.0f, false, 80},
      {{142, 110, 192, 243, 459, 401}, 1.0f, false, 80},
  };
}

std::vector<Detection> decode_yolo(std::span<const HeadView> heads,
                                   std::span<const YoloLayer> layers,
                                   const ImageTransform& transform, const DecodeOptions& options) {
  check_options(options);
  YOLO4_CHECK(transform.image_width > 0 && transform.image_height > 0 && transform.scale_x > 0 &&
                  transform.scale_y > 0,
              "decode_yolo: image transform for a ", transform.image_width, "x",
              transform.image_height, " image is not set up (use make_image_transform)");
  YOLO4_CHECK(heads.size() == layers.size(), "decode_yolo: ", heads.size(), " heads but ",
              layers.size(), " YOLO layers");
  std::vector<Detection> detections;
  for (size_t i = 0; i < heads.size(); ++i) {
    check_head(heads[i], transform);
    check_layer(layers[i]);
    decode_head({heads[i], layers[i], transform, options}, detections);
  }
  return detections;
}

}  // namespace yolo4
