// The decoding and NMS flags of the commands that detect objects (detect, eval), and the
// Detector options they make.
#pragma once

#include <string>

#include "args.h"
#include "model_flags.h"
#include "yolo4/pipeline/detector.h"

namespace yolo4::cli {

struct DetectionFlags {
  float conf = 0.3f;
  float iou = 0.4f;
  std::string nms_kind = "iou";
  bool class_agnostic = false;
  int max_det = 300;
  bool multi_label = false;
  float scale_xy = 0;  // 0: the cfg's [yolo] scale_x_y (1 for .pth checkpoints)
  bool letterbox = false;

  // Every help line starts with help_prefix (e.g. "with --images: "). --conf and --max-det only
  // with thresholds: eval fixes them as published evaluations do.
  void add_to(ArgParser& parser, const std::string& help_prefix, bool thresholds);
  void check() const;  // the values the parser cannot check alone
  // These flags and the input size of `model`; threads and pinning are the caller's.
  DetectorOptions detector_options(const ModelFlags& model, const NetworkSpec& spec) const;
};

}  // namespace yolo4::cli
