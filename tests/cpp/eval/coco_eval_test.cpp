// COCO bbox evaluation on cases small enough to work out on paper (the derivation is next to each
// expectation), the edge cases pycocotools has rules for, and darknet's `detector map`.
// Random cases against an independent implementation are in tests/python/test_coco_eval.py.
#include "yolo4/eval/coco_eval.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "yolo4/eval/darknet_map.h"

namespace yolo4 {
namespace {

constexpr double kExact = 1e-12;

CocoAnnotation truth(int64_t id, int64_t image, int64_t category, CocoBox box, bool crowd = false) {
  return {id, image, category, box, box[2] * box[3], crowd};
}

CocoResult result(int64_t image, int64_t category, CocoBox box, double score) {
  return {image, category, box, score};
}

CocoDataset dataset(std::vector<int64_t> images, std::vector<int64_t> categories,
                    std::vector<CocoAnnotation> annotations) {
  CocoDataset d;
  for (int64_t id : images) d.images.push_back({id, std::to_string(id), 640, 480});
  for (int64_t id : categories) d.categories.push_back({id, std::to_string(id)});
  d.annotations = std::move(annotations);
  return d;
}

enum Stat { kAP, kAP50, kAP75, kAPs, kAPm, kAPl, kAR1, kAR10, kAR100, kARs, kARm, kARl };

TEST(CocoEval, ThresholdsAreNumpyLinspaceBitForBit) {
  const auto iou = coco_iou_thresholds();
  EXPECT_EQ(iou[0], 0.5);
  EXPECT_EQ(iou[5], 0.75);                // summarize() finds AP75 with ==
  EXPECT_EQ(iou[8], 0.8999999999999999);  // numpy's value, not 0.9
  EXPECT_EQ(iou[9], 0.95);
  const auto recall = coco_recall_thresholds();
  EXPECT_EQ(recall[30], 0.3);
  EXPECT_EQ(recall[70], 0.7000000000000001);  // 70 * 0.01: a recall of 7/10 does not reach it
  EXPECT_LT(7.0 / 10.0, recall[70]);
  EXPECT_EQ(recall[100], 1.0);
}

TEST(CocoEval, BoxIouAndCrowdIou) {
  // 100x100 vs its left half: intersection 5000, union 10000.
  EXPECT_EQ(coco_box_iou({0, 0, 50, 100}, {0, 0, 100, 100}, false), 0.5);
  // Against a crowd region the union is the result's own area: 5000 / 5000.
  EXPECT_EQ(coco_box_iou({0, 0, 50, 100}, {0, 0, 100, 100}, true), 1.0);
  EXPECT_EQ(coco_box_iou({0, 0, 10, 10}, {10, 0, 10, 10}, false), 0.0);  // touching
}

// Three large ground-truth boxes in two images, four results:
//   0.9 exact on A (TP)   0.8 nowhere (FP)   0.7 exact on C (TP)   0.6 on A again, IoU 0.8 (FP:
//   A is taken, B does not overlap).
// Ranked: TP FP TP FP; recall 1/3 1/3 2/3 2/3; precision 1 1/2 2/3 1/2; envelope 1 2/3 2/3 1/2.
// Recall points 0.00..0.33 (34 points) reach recall 1/3 -> precision 1; 0.34..0.66 (33 points)
// first reach 2/3 at rank 3 -> 2/3; 0.67..1 are never reached -> 0.
// AP = (34 * 1 + 33 * 2/3) / 101 = 56/101 at every IoU threshold (the hits are exact).
CocoDataset three_large_boxes() {
  return dataset({1, 2}, {5},
                 {truth(1, 1, 5, {0, 0, 100, 100}), truth(2, 1, 5, {300, 0, 100, 100}),
                  truth(3, 2, 5, {0, 0, 100, 100})});
}
std::vector<CocoResult> four_results() {
  return {result(1, 5, {0, 0, 100, 100}, 0.9), result(2, 5, {300, 300, 100, 100}, 0.8),
          result(2, 5, {0, 0, 100, 100}, 0.7), result(1, 5, {0, 0, 100, 80}, 0.6)};
}

TEST(CocoEval, HandComputedAp) {
  const CocoEvalResult r = evaluate_coco_bbox(three_large_boxes(), four_results());
  EXPECT_NEAR(r.stats[kAP], 56.0 / 101, kExact);
  EXPECT_NEAR(r.stats[kAP50], 56.0 / 101, kExact);
  EXPECT_NEAR(r.stats[kAP75], 56.0 / 101, kExact);
  EXPECT_NEAR(r.stats[kAPl], 56.0 / 101, kExact);  // every box is large (area 10000 > 96^2)
  EXPECT_EQ(r.stats[kAPs], -1);                    // no small or medium ground truth
  EXPECT_EQ(r.stats[kAPm], -1);
  // AR@1 keeps each image's best result: image 1's TP, image 2's FP -> recall 1/3.
  EXPECT_NEAR(r.stats[kAR1], 1.0 / 3, kExact);
  EXPECT_NEAR(r.stats[kAR10], 2.0 / 3, kExact);
  EXPECT_NEAR(r.stats[kAR100], 2.0 / 3, kExact);
  EXPECT_NEAR(r.stats[kARl], 2.0 / 3, kExact);
  EXPECT_EQ(r.stats[kARs], -1);
  ASSERT_EQ(r.category_ids, std::vector<int64_t>{5});
  EXPECT_NEAR(r.category_ap(0), 56.0 / 101, kExact);
}

TEST(CocoEval, RecallSevenTenthsMissesTheSeventiethRecallPoint) {
  // Ten objects, seven found exactly, nothing else: precision 1 up to recall 7/10. The recall
  // point 0.70 is numpy's 0.7000000000000001 > 0.7, so only points 0.00 .. 0.69 (70 of them)
  // get precision 1: AP = 70/101, not 71/101.
  std::vector<CocoAnnotation> truths;
  std::vector<CocoResult> results;
  for (int i = 0; i < 10; ++i) {
    const CocoBox box = {200.0 * i, 0, 100, 100};
    truths.push_back(truth(i + 1, 1, 1, box));
    if (i < 7) results.push_back(result(1, 1, box, 0.9 - 0.01 * i));
  }
  const CocoEvalResult r = evaluate_coco_bbox(dataset({1}, {1}, truths), results);
  EXPECT_NEAR(r.stats[kAP], 70.0 / 101, kExact);
  EXPECT_NEAR(r.stats[kAR100], 0.7, kExact);
}

TEST(CocoEval, IouExactlyAtAThresholdMatches) {
  // IoU 0.5 exactly: a match at 0.50 only (>=), a miss at .55 ... .95: AP = AP50 / 10.
  const CocoDataset d = dataset({1}, {1}, {truth(1, 1, 1, {0, 0, 100, 100})});
  const CocoEvalResult r = evaluate_coco_bbox(d, std::vector{result(1, 1, {0, 0, 50, 100}, 0.9)});
  EXPECT_NEAR(r.stats[kAP50], 1.0, 1e-15);
  EXPECT_EQ(r.stats[kAP75], 0.0);
  EXPECT_NEAR(r.stats[kAP], 0.1, 1e-15);
}

TEST(CocoEval, CrowdRegionsAbsorbResultsInsteadOfCountingThemAsFalsePositives) {
  // One regular box and one crowd region. Three results inside the crowd (IoU = intersection /
  // result area = 1) are ignored; the one hit on the regular box is the only counted result.
  const CocoDataset d = dataset(
      {1}, {1}, {truth(1, 1, 1, {0, 0, 200, 200}, true), truth(2, 1, 1, {300, 300, 50, 50})});
  std::vector<CocoResult> results;
  for (int i = 0; i < 3; ++i) results.push_back(result(1, 1, {10.0 * i, 10, 20, 20}, 0.9));
  results.push_back(result(1, 1, {300, 300, 50, 50}, 0.5));
  const CocoEvalResult r = evaluate_coco_bbox(d, results);
  EXPECT_NEAR(r.stats[kAP], 1.0, 1e-15);
  EXPECT_NEAR(r.stats[kAR100], 1.0, 1e-15);
  // Without the crowd flag the three become false positives ranked first: precision 0, 0, 0,
  // 1/4 at recall 0, 0, 0, 1/2 (the crowd box is now a missed object): the envelope is 1/4 up
  // to recall 1/2 -> AP = 51 * 1/4 / 101.
  CocoDataset no_crowd = d;
  no_crowd.annotations[0].iscrowd = false;
  EXPECT_NEAR(evaluate_coco_bbox(no_crowd, results).stats[kAP], 51 * 0.25 / 101, kExact);
}

TEST(CocoEval, ScoreTiesFollowImageIdOrderNotFileOrder) {
  // Two images with one object each; a TP on one and an FP on the other, both scoring 0.5.
  // pycocotools concatenates images in ascending id and sorts stably, so the lower id goes
  // first. TP first: precision 1, 1/2 at recall 1/2 -> 51/101. FP first: precision 0, 1/2 ->
  // envelope 1/2 -> 51 * 1/2 / 101.
  auto score = [](int64_t tp_image, int64_t fp_image) {
    const CocoDataset d =
        dataset({fp_image, tp_image}, {1},  // file order is not id order
                {truth(1, tp_image, 1, {0, 0, 60, 60}), truth(2, fp_image, 1, {0, 0, 60, 60})});
    return evaluate_coco_bbox(d, std::vector{result(fp_image, 1, {200, 200, 60, 60}, 0.5),
                                             result(tp_image, 1, {0, 0, 60, 60}, 0.5)})
        .stats[kAP];
  };
  EXPECT_NEAR(score(1, 2), 51.0 / 101, kExact);
  EXPECT_NEAR(score(2, 1), 51 * 0.5 / 101, kExact);
}

TEST(CocoEval, ScoreTiesWithinAnImageKeepFileOrder) {
  // One object; two tied results, one exact and one off. File order decides which is matched
  // first: exact first -> TP FP -> AP 1; off first -> FP TP -> envelope 1/2 -> AP 1/2.
  const CocoDataset d = dataset({1}, {1}, {truth(1, 1, 1, {0, 0, 60, 60})});
  const CocoResult exact = result(1, 1, {0, 0, 60, 60}, 0.5),
                   off = result(1, 1, {300, 0, 60, 60}, 0.5);
  EXPECT_NEAR(evaluate_coco_bbox(d, std::vector{exact, off}).stats[kAP], 1.0, 1e-15);
  EXPECT_NEAR(evaluate_coco_bbox(d, std::vector{off, exact}).stats[kAP], 0.5, 1e-15);
}

TEST(CocoEval, DuplicateDetections) {
  // One object; a loose box (IoU 0.68) scoring 0.9 and an exact duplicate scoring 0.8.
  // Thresholds .50 .55 .60 .65: the loose box matches, the exact one is a duplicate (FP after
  // the TP): precision 1 at recall 1 -> AP 1. Thresholds .70 ... .95 (6): the loose box is an
  // FP, the exact one a TP: precision 0, 1/2 -> AP 1/2. Mean: (4 + 6 * 0.5) / 10 = 0.7.
  const CocoDataset d = dataset({1}, {1}, {truth(1, 1, 1, {0, 0, 100, 100})});
  const CocoEvalResult r = evaluate_coco_bbox(
      d, std::vector{result(1, 1, {0, 0, 100, 68}, 0.9), result(1, 1, {0, 0, 100, 100}, 0.8)});
  EXPECT_NEAR(r.stats[kAP], 0.7, kExact);
  EXPECT_NEAR(r.stats[kAP50], 1.0, kExact);
  EXPECT_NEAR(r.stats[kAP75], 0.5, kExact);
}

TEST(CocoEval, EmptyResultsScoreZeroNotMinusOne) {
  const CocoEvalResult r = evaluate_coco_bbox(three_large_boxes(), std::vector<CocoResult>{});
  EXPECT_EQ(r.stats[kAP], 0.0);
  EXPECT_EQ(r.stats[kAR100], 0.0);
  EXPECT_EQ(r.stats[kAPs], -1.0);  // still no small ground truth
}

TEST(CocoEval, CategoryWithResultsButNoGroundTruthIsLeftOut) {
  CocoDataset d = three_large_boxes();
  d.categories.push_back({9, "no ground truth"});
  std::vector<CocoResult> results = four_results();
  results.push_back(result(1, 9, {0, 0, 100, 100}, 0.99));
  const CocoEvalResult r = evaluate_coco_bbox(d, results);
  EXPECT_NEAR(r.stats[kAP], 56.0 / 101, kExact);  // not averaged with a 0 for category 9
  ASSERT_EQ(r.category_ids.size(), 2u);
  EXPECT_EQ(r.category_ap(1), -1.0);
}

TEST(CocoEval, ResultsOfUnlistedCategoriesAreSkipped) {
  std::vector<CocoResult> results = four_results();
  results.push_back(result(1, 77, {0, 0, 100, 100}, 0.99));
  const CocoEvalResult r = evaluate_coco_bbox(three_large_boxes(), results);
  EXPECT_EQ(r.results_skipped, 1);
  EXPECT_NEAR(r.stats[kAP], 56.0 / 101, kExact);
}

TEST(CocoEval, ImagesWithoutAnnotationsStillCountTheirFalsePositives) {
  // Image 3 has no annotations; a 0.95 result there ranks first as an FP: TP FP TP FP becomes
  // FP TP FP TP FP: precision 0 1/2 1/3 1/2 2/5 at recall 0 1/3 1/3 2/3 2/3; envelope 1/2 1/2
  // 1/2 1/2 2/5 -> AP = 67 * 1/2 / 101 (recall points 0.00 .. 0.66).
  CocoDataset d = three_large_boxes();
  d.images.push_back({3, "3.jpg", 640, 480});
  std::vector<CocoResult> results = four_results();
  results.push_back(result(3, 5, {0, 0, 100, 100}, 0.95));
  EXPECT_NEAR(evaluate_coco_bbox(d, results).stats[kAP], 67 * 0.5 / 101, kExact);
  // Restricted to images 1 and 2 (pycocotools' params.imgIds), image 3's result is not counted.
  const std::vector<int64_t> first_two = {1, 2};
  EXPECT_NEAR(evaluate_coco_bbox(d, results, first_two).stats[kAP], 56.0 / 101, kExact);
}

TEST(CocoEval, AtMost100ResultsPerImageAndCategory) {
  // 100 false positives scoring 0.9 hide a later exact hit scoring 0.5: AP 0. With 99 of them
  // the hit is the 100th result: precision 1/100 at recall 1 -> AP = 0.01.
  const CocoDataset d = dataset({1}, {1}, {truth(1, 1, 1, {0, 0, 60, 60})});
  for (int fps : {100, 99}) {
    std::vector<CocoResult> results;
    for (int i = 0; i < fps; ++i) results.push_back(result(1, 1, {500, 500, 60, 60}, 0.9));
    results.push_back(result(1, 1, {0, 0, 60, 60}, 0.5));
    EXPECT_NEAR(evaluate_coco_bbox(d, results).stats[kAP], fps == 100 ? 0.0 : 0.01, 1e-15)
        << fps << " false positives";
  }
}

TEST(CocoEval, AreaRangesUseTheAnnotationAreaAndIgnoreUnmatchedResultsOutsideThem) {
  // A box of 40x40 whose segmentation area is 900 (small: <= 32^2 = 1024), hit exactly.
  // A second result, 200x200 and unmatched, lies outside the small range: ignored there.
  // small: TP only -> AP 1; medium: the object is ignored, so there is no ground truth -> -1.
  CocoDataset d = dataset({1}, {1}, {truth(1, 1, 1, {0, 0, 40, 40})});
  d.annotations[0].area = 900;
  const CocoEvalResult r = evaluate_coco_bbox(
      d, std::vector{result(1, 1, {0, 0, 40, 40}, 0.9), result(1, 1, {300, 0, 200, 200}, 0.95)});
  EXPECT_NEAR(r.stats[kAPs], 1.0, 1e-15);
  EXPECT_EQ(r.stats[kAPm], -1.0);
  // all: the 0.95 FP ranks first: precision 0, 1/2 -> envelope 1/2 -> AP 1/2.
  EXPECT_NEAR(r.stats[kAP], 0.5, 1e-15);
  // Area bounds are inclusive: 32^2 exactly is both small and medium.
  d.annotations[0].area = 1024;
  const CocoEvalResult bound =
      evaluate_coco_bbox(d, std::vector{result(1, 1, {0, 0, 40, 40}, 0.9)});
  EXPECT_NEAR(bound.stats[kAPs], 1.0, 1e-15);
  EXPECT_NEAR(bound.stats[kAPm], 1.0, 1e-15);
}

TEST(CocoEval, AnnotationIdZeroScoresAsPycocotoolsScoresIt) {
  // pycocotools records a match as the ground truth's id and reads 0 as "unmatched": an exact
  // hit on an annotation with id 0 counts as a false positive (AP 0), with id 1 as a hit (AP 1).
  for (int64_t id : {0, 1}) {
    const CocoDataset d = dataset({1}, {1}, {truth(id, 1, 1, {0, 0, 60, 60})});
    const CocoEvalResult r = evaluate_coco_bbox(d, std::vector{result(1, 1, {0, 0, 60, 60}, 0.9)});
    EXPECT_NEAR(r.stats[kAP], id == 0 ? 0.0 : 1.0, 1e-15) << "annotation id " << id;
  }
}

TEST(CocoEval, SummaryHasPycocotoolsLayout) {
  CocoStats stats;
  stats.fill(-1);
  stats[kAP] = 0.4712345;
  const std::string text = format_coco_summary(stats);
  EXPECT_EQ(text.substr(0, text.find('\n') + 1),
            " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.471\n");
  EXPECT_NE(text.find(" Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] "
                      "= -1.000\n"),
            std::string::npos);
  EXPECT_NE(text.find(" Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ]"),
            std::string::npos);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 12);
}

// ---------------------------------------------------------------------------------------------
// darknet's detector map.

TEST(DarknetMap, HandComputedAllPointAp) {
  // Two objects of class 1; results ranked TP, FP, TP: precision 1, 1/2, 2/3 at recall 1/2,
  // 1/2, 1. Area under the envelope: 1/2 * 1 + 1/2 * 2/3 = 5/6 (COCO's 101 points would give
  // (51 + 50 * 2/3) / 101). Class 2 has no ground truth: AP 0, and darknet still averages over
  // it: mAP = 5/12.
  const CocoDataset d =
      dataset({1}, {1, 2}, {truth(1, 1, 1, {0, 0, 10, 10}), truth(2, 1, 1, {100, 100, 10, 10})});
  const std::vector<CocoResult> results = {result(1, 1, {0, 0, 10, 10}, 0.9),
                                           result(1, 1, {50, 50, 10, 10}, 0.8),
                                           result(1, 1, {100, 100, 10, 10}, 0.7)};
  const DarknetMapResult r = evaluate_darknet_map(d, results);
  ASSERT_EQ(r.classes.size(), 2u);
  EXPECT_NEAR(r.classes[0].ap, 5.0 / 6, kExact);
  EXPECT_EQ(r.classes[0].true_positives, 2);
  EXPECT_EQ(r.classes[0].false_positives, 1);
  EXPECT_EQ(r.classes[1].ap, 0.0);
  EXPECT_NEAR(r.map, 5.0 / 12, kExact);
  EXPECT_NEAR(evaluate_coco_bbox(d, results).stats[kAP50], (51 + 50 * 2.0 / 3) / 101, kExact);
}

TEST(DarknetMap, ATakenTruthIsNotReplacedAndTheThresholdIsStrict) {
  // Objects A = [0,0,100,100] and B = [0,20,100,100]. Result 1 (0.9) is exact on A. Result 2
  // (0.8) = [0,10,100,100] overlaps both by 9000 / 11000 = 0.818: darknet assigns it A (the
  // first; only a strictly greater IoU replaces it), A is taken -> FP. COCO skips the taken A
  // and matches B.
  const CocoDataset d =
      dataset({1}, {1}, {truth(1, 1, 1, {0, 0, 100, 100}), truth(2, 1, 1, {0, 20, 100, 100})});
  const std::vector<CocoResult> results = {result(1, 1, {0, 0, 100, 100}, 0.9),
                                           result(1, 1, {0, 10, 100, 100}, 0.8)};
  const DarknetMapResult r = evaluate_darknet_map(d, results);
  // darknet: TP, FP at recall 1/2 -> AP 1/2.
  EXPECT_NEAR(r.classes[0].ap, 0.5, kExact);
  EXPECT_EQ(r.classes[0].false_positives, 1);
  // COCO at IoU 0.5: TP, TP -> AP50 1.
  EXPECT_NEAR(evaluate_coco_bbox(d, results).stats[kAP50], 1.0, 1e-15);
  // IoU exactly 0.5 is not a match for darknet (> 0.5), but is for COCO (>= 0.5).
  const CocoDataset one = dataset({1}, {1}, {truth(1, 1, 1, {0, 0, 100, 100})});
  const std::vector<CocoResult> half = {result(1, 1, {0, 0, 50, 100}, 0.9)};
  EXPECT_EQ(evaluate_darknet_map(one, half).map, 0.0);
  EXPECT_NEAR(evaluate_coco_bbox(one, half).stats[kAP50], 1.0, 1e-15);
}

TEST(DarknetMap, DropsLowScoresAndCrowdAnnotations) {
  // A result scoring 0.005 (not > 0.005) is dropped; the crowd annotation is not a target.
  const CocoDataset d = dataset(
      {1}, {1}, {truth(1, 1, 1, {0, 0, 100, 100}), truth(2, 1, 1, {300, 300, 50, 50}, true)});
  const DarknetMapResult low =
      evaluate_darknet_map(d, std::vector{result(1, 1, {0, 0, 100, 100}, 0.005)});
  EXPECT_EQ(low.map, 0.0);
  const DarknetMapResult hit =
      evaluate_darknet_map(d, std::vector{result(1, 1, {0, 0, 100, 100}, 0.006)});
  EXPECT_NEAR(hit.map, 1.0, kExact);  // recall 1: the crowd box is not counted as missed
  EXPECT_EQ(hit.classes[0].truths, 1);
}

}  // namespace
}  // namespace yolo4
