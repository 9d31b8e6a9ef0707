// COCO bbox evaluation, computed as pycocotools' COCOeval (evaluate, accumulate, summarize) with
// its default parameters, so that the 12 summary numbers agree with it to rounding:
//   - IoU thresholds .50:.05:.95, recall thresholds 0:.01:1 (both as numpy.linspace makes them);
//   - area ranges all [0, 1e10], small [0, 32^2], medium [32^2, 96^2], large [96^2, 1e10] on
//     the annotation's 'area' (a result's area is w * h), bounds inclusive;
//   - at most 100 results per image and category (the best by score; 1 and 10 for AR@1, AR@10);
//   - per image and category, results best first greedily take the unmatched ground truth of
//     highest IoU >= threshold; crowd and out-of-range ground truth is only matched when no
//     regular one is, and a result matched to it is ignored, not counted (a crowd region can
//     absorb any number of results; its IoU is the intersection over the result's area);
//     unmatched results outside the area range are ignored too;
//   - precision at 101 recall points of the envelope max(precision at recall >= r);
//   - categories without (unignored) ground truth count as -1 and are left out of the means;
//     a summary number is -1 when nothing is left.
// Sorting is stable everywhere, as pycocotools' mergesort, so score ties resolve the same way:
// results in file order within an image, images in ascending id.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "yolo4/eval/coco_data.h"

namespace yolo4 {

inline constexpr int kCocoIouThresholds = 10;      // T
inline constexpr int kCocoRecallThresholds = 101;  // R
inline constexpr int kCocoAreaRanges = 4;          // A: all, small, medium, large
inline constexpr int kCocoMaxDetSettings = 3;      // M: 1, 10, 100
inline constexpr std::array<int, kCocoMaxDetSettings> kCocoMaxDets = {1, 10, 100};

// numpy.linspace(.5, .95, 10) and numpy.linspace(0, 1, 101), bit for bit.
std::array<double, kCocoIouThresholds> coco_iou_thresholds();
std::array<double, kCocoRecallThresholds> coco_recall_thresholds();

// pycocotools' bbox IoU (maskApi.c bbIou) of a result and a ground-truth box, [x, y, w, h]; for
// a crowd ground truth the union is the result's area alone.
double coco_box_iou(const CocoBox& result, const CocoBox& truth, bool truth_is_crowd);

// The 12 numbers of COCOeval.summarize(), in its order.
using CocoStats = std::array<double, 12>;

struct CocoEvalResult {
  CocoStats stats{};
  std::vector<int64_t> category_ids;  // evaluated categories, ascending
  // precision[((t * R + r) * K + k) * A * M + a * M + m], -1 where the category has no ground
  // truth in that area range (pycocotools' eval['precision'] layout, flattened).
  std::vector<double> precision;
  // recall[((t * K + k) * A + a) * M + m], -1 likewise.
  std::vector<double> recall;
  int64_t images = 0;           // images evaluated
  int64_t results_skipped = 0;  // results of categories the annotations do not list

  // AP@[.50:.95] of one category over all areas at 100 results per image; -1 without ground
  // truth.
  double category_ap(size_t k) const;
};

// image_ids: the images to evaluate (pycocotools' params.imgIds); empty means every image of the
// dataset. Results on other images are not counted. Every category of the dataset is evaluated.
CocoEvalResult evaluate_coco_bbox(const CocoDataset& dataset, std::span<const CocoResult> results,
                                  std::span<const int64_t> image_ids = {});

// The 12 lines COCOeval.summarize() prints, each ending in '\n'.
std::string format_coco_summary(const CocoStats& stats);

}  // namespace yolo4
