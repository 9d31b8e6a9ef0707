#include "detection_flags.h"

#include <tuple>

#include "yolo4/core/error.h"

namespace yolo4::cli {

void DetectionFlags::add_to(ArgParser& p, const std::string& help_prefix, bool thresholds) {
  if (thresholds) {
    p.option("--conf", "T",
             help_prefix +
                 "keep boxes scoring above T = objectness * class prob "
                 "(default 0.3)",
             &conf, 0.0f, 1.0f);
  }
  p.option("--nms", "T", help_prefix + "NMS overlap threshold (default 0.4)", &iou, 0.0f, 1.0f);
  p.option("--nms-kind", "K", help_prefix + "iou (default) or diou (darknet's greedy DIoU-NMS)",
           &nms_kind);
  p.flag("--class-agnostic-nms",
         help_prefix +
             "suppress overlapping boxes of any class (as cv2.dnn.NMSBoxes), not per "
             "class (darknet)",
         &class_agnostic);
  if (thresholds) {
    p.option("--max-det", "N",
             help_prefix + "keep at most N boxes per image, best first; 0: all (default 300)",
             &max_det, 0, 1000000);
  }
  p.flag("--multi-label",
         help_prefix + "every class above the score threshold per anchor, not only the best one",
         &multi_label);
  p.option("--scale-xy", "S",
           help_prefix + "box centre scale_x_y for every head (default: the cfg's; 1 for .pth)",
           &scale_xy, 0.5f, 4.0f);
  p.flag("--letterbox",
         help_prefix +
             "keep the aspect ratio, pad with grey (darknet); default: the cfg's "
             "letter_box, else stretch",
         &letterbox);
}

void DetectionFlags::check() const {
  YOLO4_CHECK(nms_kind == "iou" || nms_kind == "diou", "--nms-kind '", nms_kind,
              "': expected iou or diou");
}

DetectorOptions DetectionFlags::detector_options(const ModelFlags& model,
                                                 const NetworkSpec& spec) const {
  DetectorOptions d;
  std::tie(d.width, d.height) = model.input_size(spec);
  if (letterbox) d.letterbox = true;
  d.conf_threshold = conf;
  d.labels = multi_label ? LabelMode::kMulti : LabelMode::kSingle;
  d.nms.iou_threshold = iou;
  d.nms.kind = nms_kind == "diou" ? NmsKind::kDiou : NmsKind::kIou;
  d.nms.max_detections = max_det;
  d.nms.class_agnostic = class_agnostic;
  d.scale_xy = scale_xy;
  return d;
}

}  // namespace yolo4::cli
