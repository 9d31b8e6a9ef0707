// darknet's `detector map` metric (AlexeyAB darknet, validate_detector_map with its defaults):
// mAP@0.50 as darknet defines it, which is NOT COCO's AP50:
//   - results scoring <= 0.005 are dropped (darknet's threshold for map);
//   - each result is assigned the ground truth of its class and image with the highest IoU,
//     if that IoU is > 0.5 (strictly); in descending score order over the whole dataset, a
//     result is a true positive if its assigned ground truth is still free, else a false
//     positive; a taken ground truth is not replaced by the next-best one (COCO would try it);
//   - AP is the area under the precision envelope at every recall step (VOC2010+ "all points",
//     darknet's -points 0), not 101 points;
//   - mAP averages over every category of the annotations, those without ground truth counting
//     as AP 0; no per-image result limit, no area ranges;
//   - darknet label files have no crowd flag: crowd annotations are left out (neither targets
//     nor ignored regions).
// Score ties keep file order (darknet's qsort leaves them unspecified).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "yolo4/eval/coco_data.h"

namespace yolo4 {

struct DarknetMapOptions {
  double iou_threshold = 0.5;
  double score_threshold = 0.005;
};

struct DarknetClassAp {
  int64_t category_id = 0;
  std::string name;
  double ap = 0;
  int64_t truths = 0, true_positives = 0, false_positives = 0;
};

struct DarknetMapResult {
  double map = 0;                       // mean of `classes[].ap`
  std::vector<DarknetClassAp> classes;  // ascending category id
};

// image_ids as in evaluate_coco_bbox: empty means every image of the dataset.
DarknetMapResult evaluate_darknet_map(const CocoDataset& dataset,
                                      std::span<const CocoResult> results,
                                      std::span<const int64_t> image_ids = {},
                                      const DarknetMapOptions& options = {});

// Per class "class_id = .., name = .., ap = ..%  (TP = .., FP = ..)" lines and the mAP line, as
// darknet prints them.
std::string format_darknet_map(const DarknetMapResult& result);

}  // namespace yolo4
