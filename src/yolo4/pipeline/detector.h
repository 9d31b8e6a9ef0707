// The library's detection pipeline: image in, detections out. A DetectionModel is loaded and
// packed once (cfg + weights + class names) and is then immutable; any number of Detectors, in
// any threads, share it. Each Detector owns a Device and a captured InferenceSession, so one
// Detector must be used by one thread at a time.
#pragma once

#include <memory>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <vector>

#include "yolo4/core/thread_pool.h"
#include "yolo4/model/graph.h"
#include "yolo4/model/options.h"
#include "yolo4/model/session.h"
#include "yolo4/postprocess/detection.h"
#include "yolo4/postprocess/nms.h"
#include "yolo4/postprocess/yolo_decode.h"

namespace yolo4 {

// Where a model comes from.
struct ModelSource {
  // A darknet .weights file or a PyTorch .pth (report key names, YOLOv4 only); empty: the
  // deterministic random YOLOv4 weights (benchmarks and tests).
  std::string weights;
  // A darknet .cfg file; empty: the built-in cfg named by builtin_cfg.
  std::string cfg;
  // One class name per line; empty: the embedded COCO names when the cfg has 80 classes,
  // otherwise "class0", "class1", ...
  std::string names;
  ModelOptions options;                    // precision, Winograd, ISA
  std::string builtin_cfg = "yolov4.cfg";  // see ../model/embedded_cfgs.h
};

// The loaded, packed network with what decoding needs. Immutable: share it as
// std::shared_ptr<const DetectionModel>.
class DetectionModel {
 public:
  explicit DetectionModel(const ModelSource& source);

  const Graph& graph() const { return *graph_; }
  const NetworkSpec& spec() const { return graph_->spec(); }
  const std::vector<std::string>& class_names() const { return class_names_; }
  int num_classes() const { return int(class_names_.size()); }
  // The [yolo] layers in cfg order; scale_x_y is 1 for .pth checkpoints (the PyTorch model
  // they come from decodes without it).
  const std::vector<YoloLayer>& yolo_layers() const { return yolo_layers_; }
  const ModelSource& source() const { return source_; }
  Isa isa() const { return graph_->isa(); }  // the kernels its weights are packed for
  std::string describe() const;              // one line: cfg, weights, classes, precision

 private:
  ModelSource source_;
  std::unique_ptr<Graph> graph_;
  std::vector<std::string> class_names_;
  std::vector<YoloLayer> yolo_layers_;
};

std::shared_ptr<const DetectionModel> load_detection_model(const ModelSource& source);

struct DetectorOptions {
  int width = 0, height = 0;      // network input; 0: the cfg's [net] width/height
  std::optional<bool> letterbox;  // empty: the cfg's [net] letter_box
  float conf_threshold = 0.25f;
  NmsOptions nms{0.45f};  // darknet's defaults: conf 0.25, NMS IoU 0.45
  LabelMode labels = LabelMode::kSingle;
  float scale_xy = 0;  // > 0 overrides every [yolo] layer's scale_x_y
  int threads = 0;     // 0: one per usable CPU
  ThreadPinning pinning = ThreadPinning::kPinned;
};

// Milliseconds spent in each stage of the last detect().
struct DetectTimings {
  double preprocess_ms = 0, network_ms = 0, postprocess_ms = 0;
};

class Detector {
 public:
  explicit Detector(std::shared_ptr<const DetectionModel> model,
                    const DetectorOptions& options = {});

  // bgr: an 8-bit 3-channel BGR image (as cv::imread gives). Boxes in its pixels, after NMS,
  // best first. `name` only appears in error messages.
  std::vector<Detection> detect(const cv::Mat& bgr, const std::string& name = "image");

  // The raw head tensors for a network input (N, H, W, 3) float RGB in [0, 1], NHWC; one plain
  // NHWC float array per [yolo] layer, shape (N, H/stride, W/stride, anchors * (5 + classes)).
  struct Head {
    std::vector<float> data;
    Shape shape;
  };
  std::vector<Head> heads(const std::vector<float>& input_nhwc, const Shape& input);

  const DetectionModel& model() const { return *model_; }
  const DetectorOptions& options() const { return options_; }
  int input_width() const { return width_; }
  int input_height() const { return height_; }
  const DetectTimings& last_timings() const { return timings_; }
  const std::string& class_name(int class_id) const;

 private:
  std::shared_ptr<const DetectionModel> model_;
  DetectorOptions options_;
  int width_, height_;
  std::vector<YoloLayer> layers_;
  Device device_;
  InferenceSession<Graph> session_;
  DetectTimings timings_;
};

}  // namespace yolo4
