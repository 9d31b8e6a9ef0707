// Non-maximum suppression per class, greedy by descending score.
#pragma once

#include <vector>

#include "yolo4/postprocess/detection.h"

namespace yolo4 {

enum class NmsKind {
  kIou,   // suppress when IoU > threshold
  kDiou,  // darknet's greedynms: suppress when IoU - (d^2 / c^2)^beta > threshold
};

struct NmsOptions {
  float iou_threshold = 0.4f;
  NmsKind kind = NmsKind::kIou;
  float diou_beta = 0.6f;    // darknet's box_diou exponent (beta_nms in yolov4.cfg)
  int max_detections = 300;  // after NMS, highest scores first; 0 keeps all
  // Suppress across classes (as cv2.dnn.NMSBoxes over all boxes), not per class (darknet).
  bool class_agnostic = false;
};

// Intersection over union of two boxes; 0 when they do not overlap or have no area.
float box_iou(const Detection& a, const Detection& b);

// Darknet's DIoU for NMS: IoU minus the squared centre distance over the squared diagonal of the
// smallest box enclosing both, raised to beta.
float box_diou(const Detection& a, const Detection& b, float beta);

// Keeps, for each class, the highest-scoring boxes that do not overlap a kept box of that class
// (of any class when class_agnostic) by more than the threshold. Result sorted by descending score;
// equal scores keep input order.
std::vector<Detection> nms(const std::vector<Detection>& detections, const NmsOptions& options);

}  // namespace yolo4
