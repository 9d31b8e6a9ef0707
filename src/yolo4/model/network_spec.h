// A darknet .cfg as a typed network: one LayerSpec per section after [net], with its inputs
// resolved to absolute layer indices and its output shape inferred for the cfg's input size.
// Nothing here holds weights or runs anything; the Graph does.
#pragma once

#include <string>
#include <vector>

#include "yolo4/core/activation.h"
#include "yolo4/core/tensor.h"
#include "yolo4/loaders/darknet_cfg.h"

namespace yolo4 {

enum class LayerKind { kConvolutional, kRoute, kShortcut, kMaxPool, kUpsample, kDropout, kYolo };
std::string_view to_string(LayerKind kind);

struct ConvLayerSpec {
  int filters = 0, size = 1, stride = 1, padding = 0, groups = 1;
  bool batch_normalize = false;
  Activation activation = Activation::kNone;
};

struct YoloLayerSpec {
  std::vector<float> anchors;  // (w, h) pairs of this layer's mask, network pixels
  int classes = 0;
  float scale_xy = 1;
  bool new_coords = false;
};

struct LayerSpec {
  LayerKind kind = LayerKind::kConvolutional;
  int line = 0;             // the section's line in the cfg
  std::string name;         // for the profiler: "conv12", or the report's module path for YOLOv4
  std::vector<int> inputs;  // absolute indices of the layers read (the previous one by default)
  Shape output;             // for the cfg's input size, N = 1
  ConvLayerSpec conv;       // kConvolutional
  int route_groups = 1, route_group_id = 0;  // kRoute: take channel group `group_id` of `groups`
  Activation shortcut_activation = Activation::kNone;    // kShortcut
  int pool_size = 0, pool_stride = 0, pool_padding = 0;  // kMaxPool (darknet semantics)
  int upsample_stride = 0;                               // kUpsample
  YoloLayerSpec yolo;                                    // kYolo
};

struct NetworkSpec {
  std::string path;  // the cfg file, for messages
  int width = 0, height = 0, channels = 3;
  bool letterbox = false;
  std::vector<LayerSpec> layers;
  std::vector<int> yolo_layers;  // indices of the [yolo] layers, cfg order
  int num_classes() const;       // of the first [yolo] layer (all must agree)
  // Re-infers every output shape for another input size (a multiple of the network's stride).
  NetworkSpec resized(int width, int height) const;
};

// Limits on what a cfg may claim, checked before anything is allocated.
inline constexpr int kMaxNetworkSide = 8192;
inline constexpr int kMaxFilters = 16384;

// Validates every section and key: an unsupported section or key, a bad value, a route or
// shortcut to a layer that does not exist, or shapes that do not fit fail naming path:line.
NetworkSpec parse_network(const DarknetCfg& cfg);

// A cfg compiled into the library (the project's cfg/ folder: "yolov4.cfg", "yolov4-tiny.cfg",
// "yolo-fastest-1.1-xl.cfg"), parsed; fails listing the built-in names.
DarknetCfg builtin_cfg(std::string_view file_name);

}  // namespace yolo4
