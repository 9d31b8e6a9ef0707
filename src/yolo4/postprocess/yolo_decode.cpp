#include "yolo4/postprocess/yolo_decode.h"

#include <algorithm>
#include <cmath>

#include "yolo4/core/error.h"
#include "yolo4/loaders/darknet_cfg.h"

namespace yolo4 {
namespace {

constexpr int kAnchorsPerLayer = 3;
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

const YoloLayer& layer_for_stride(std::span<const YoloLayer> layers, int stride) {
  for (const YoloLayer& layer : layers) {
    if (layer.stride == stride) return layer;
  }
  fail("decode_yolo: no YOLO layer with stride ", stride, " for the head of that stride");
}

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
  YOLO4_CHECK(options.num_classes > 0, "decode_yolo: num_classes ", options.num_classes,
              " must be positive");
}

// The anchor's box in image pixels, clipped to the image; false when clipping leaves no area.
bool decode_box(const HeadContext& ctx, const AnchorOutputs& out, int anchor, int gx, int gy,
                Detection& box) {
  const float s = ctx.layer.scale_xy;
  const ImageTransform& t = ctx.transform;
  // scale_x_y lets the centre reach the cell borders: sigmoid * s - (s - 1) / 2 spans wider
  // than [0, 1].
  const float bx = (sigmoid(out[0]) * s - 0.5f * (s - 1.0f) + static_cast<float>(gx)) /
                   static_cast<float>(ctx.head.width);
  const float by = (sigmoid(out[1]) * s - 0.5f * (s - 1.0f) + static_cast<float>(gy)) /
                   static_cast<float>(ctx.head.height);
  const float bw = std::exp(out[2]) * ctx.layer.anchors[2 * anchor];
  const float bh = std::exp(out[3]) * ctx.layer.anchors[2 * anchor + 1];
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
void add_best_class(const AnchorOutputs& out, float objectness, const DecodeOptions& options,
                    Detection box, std::vector<Detection>& detections) {
  int best = 0;
  float best_logit = out[kBoxFields];
  for (int c = 1; c < options.num_classes; ++c) {
    const float logit = out[kBoxFields + c];
    if (logit > best_logit) {
      best_logit = logit;
      best = c;
    }
  }
  box.class_id = best;
  box.score = objectness * sigmoid(best_logit);
  if (box.score > options.conf_threshold) detections.push_back(box);
}

// Multi label: score > conf needs sigmoid(logit) > conf / objectness, i.e. logit above that
// probability's logit; a small margin keeps rounding from dropping a class the exact test keeps.
void add_all_classes(const AnchorOutputs& out, float objectness, const DecodeOptions& options,
                     Detection box, std::vector<Detection>& detections) {
  const float p = options.conf_threshold / objectness;
  const float min_logit = p > 0 ? std::log(p) - std::log1p(-p) - 1e-3f : -INFINITY;
  for (int c = 0; c < options.num_classes; ++c) {
    const float logit = out[kBoxFields + c];
    if (!(logit > min_logit)) continue;
    box.class_id = c;
    box.score = objectness * sigmoid(logit);
    if (box.score > options.conf_threshold) detections.push_back(box);
  }
}

void decode_anchor(const HeadContext& ctx, const AnchorOutputs& out, int anchor, int gx, int gy,
                   std::vector<Detection>& detections) {
  const float objectness = sigmoid(out[4]);
  // score = objectness * class probability <= objectness; the negated test also skips NaN.
  if (!(objectness > ctx.options.conf_threshold)) return;
  Detection box{};
  if (!decode_box(ctx, out, anchor, gx, gy, box)) return;
  if (ctx.options.labels == LabelMode::kSingle) {
    add_best_class(out, objectness, ctx.options, box, detections);
  } else {
    add_all_classes(out, objectness, ctx.options, box, detections);
  }
}

void decode_head(const HeadContext& ctx, std::vector<Detection>& detections) {
  const HeadView& head = ctx.head;
  const int64_t anchor_channels = kBoxFields + ctx.options.num_classes;
  for (int gy = 0; gy < head.height; ++gy) {
    for (int gx = 0; gx < head.width; ++gx) {
      const float* cell = head.data + gy * head.y_stride + gx * head.x_stride;
      for (int a = 0; a < kAnchorsPerLayer; ++a) {
        const AnchorOutputs out{cell + a * anchor_channels * head.channel_stride,
                                head.channel_stride};
        decode_anchor(ctx, out, a, gx, gy, detections);
      }
    }
  }
}

YoloLayer layer_from_section(const DarknetCfg& cfg, const CfgSection& section) {
  const std::vector<float> anchors = cfg_floats(section, "anchors");
  const std::vector<float> mask = cfg_floats(section, "mask");
  YOLO4_CHECK(!anchors.empty() && anchors.size() % 2 == 0, cfg.path, ":", section.line,
              ": [yolo] anchors must be (w, h) pairs, got ", anchors.size(), " numbers");
  YOLO4_CHECK(mask.size() == 3, cfg.path, ":", section.line,
              ": [yolo] mask must list 3 anchors, got ", mask.size());
  YoloLayer layer{0, {}, cfg_float(section, "scale_x_y", 1.0f)};
  YOLO4_CHECK(layer.scale_xy > 0, cfg.path, ":", section.line, ": [yolo] scale_x_y ",
              layer.scale_xy, " must be positive");
  for (size_t i = 0; i < mask.size(); ++i) {
    const float index = mask[i];
    YOLO4_CHECK(index >= 0 && index == std::floor(index) &&
                    2 * index + 1 < static_cast<float>(anchors.size()),
                cfg.path, ":", section.line, ": [yolo] mask entry ", index,
                " is not an anchor index below ", anchors.size() / 2);
    layer.anchors[2 * i] = anchors[2 * static_cast<size_t>(index)];
    layer.anchors[2 * i + 1] = anchors[2 * static_cast<size_t>(index) + 1];
  }
  return layer;
}

float anchor_area(const YoloLayer& layer) {
  float area = 0;
  for (size_t i = 0; i < layer.anchors.size(); i += 2) {
    area += layer.anchors[i] * layer.anchors[i + 1];
  }
  return area;
}

}  // namespace

HeadView nchw_head(const float* data, int height, int width, int stride) {
  return {data, height, width, int64_t{height} * width, 1, width, stride};
}

HeadView nhwc_head(const float* data, int height, int width, int channels, int stride) {
  return {data, height, width, 1, channels, int64_t{width} * channels, stride};
}

std::array<YoloLayer, 3> default_yolo_layers() {
  return {{
      {8, {12, 16, 19, 36, 40, 28}, 1.0f},
      {16, {36, 75, 76, 55, 72, 146}, 1.0f},
      {32, {142, 110, 192, 243, 459, 401}, 1.0f},
  }};
}

std::array<YoloLayer, 3> yolo_layers_from_cfg(const DarknetCfg& cfg) {
  std::vector<YoloLayer> layers;
  for (const CfgSection& section : cfg.sections) {
    if (section.type == "yolo") layers.push_back(layer_from_section(cfg, section));
  }
  YOLO4_CHECK(layers.size() == 3, cfg.path, ": expected 3 [yolo] sections (YOLOv4), found ",
              layers.size());
  // Small anchors belong to the fine grid: stride 8, then 16, then 32.
  std::stable_sort(layers.begin(), layers.end(), [](const YoloLayer& a, const YoloLayer& b) {
    return anchor_area(a) < anchor_area(b);
  });
  std::array<YoloLayer, 3> result;
  for (int i = 0; i < 3; ++i) {
    result[i] = layers[i];
    result[i].stride = 8 << i;
  }
  return result;
}

std::vector<Detection> decode_yolo(std::span<const HeadView> heads,
                                   std::span<const YoloLayer> layers,
                                   const ImageTransform& transform, const DecodeOptions& options) {
  check_options(options);
  YOLO4_CHECK(transform.image_width > 0 && transform.image_height > 0 && transform.scale_x > 0 &&
                  transform.scale_y > 0,
              "decode_yolo: image transform for a ", transform.image_width, "x",
              transform.image_height, " image is not set up (use make_image_transform)");
  std::vector<Detection> detections;
  for (const HeadView& head : heads) {
    check_head(head, transform);
    const HeadContext ctx{head, layer_for_stride(layers, head.stride), transform, options};
    decode_head(ctx, detections);
  }
  return detections;
}

}  // namespace yolo4
