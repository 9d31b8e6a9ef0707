#include "yolo4/eval/darknet_map.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "yolo4/eval/coco_eval.h"

namespace yolo4 {

namespace {

// darknet's AP for one class, -points 0: walk the ranks from the last one back, widening the
// precision envelope, and add each recall step times the envelope; then the step from 0 to the
// lowest recall.
double all_point_ap(const std::vector<double>& precision, const std::vector<double>& recall) {
  const size_t n = precision.size();
  if (n == 0) return 0;
  double ap = 0;
  double last_recall = recall[n - 1], last_precision = precision[n - 1];
  for (size_t rank = n - 1; rank-- > 0;) {
    const double delta_recall = last_recall - recall[rank];
    last_recall = recall[rank];
    last_precision = std::max(last_precision, precision[rank]);
    ap += delta_recall * last_precision;
  }
  return ap + last_recall * last_precision;
}

}  // namespace

DarknetMapResult evaluate_darknet_map(const CocoDataset& dataset,
                                      std::span<const CocoResult> results,
                                      std::span<const int64_t> image_ids,
                                      const DarknetMapOptions& options) {
  std::unordered_set<int64_t> evaluated;
  if (image_ids.empty()) {
    for (const CocoImage& image : dataset.images) evaluated.insert(image.id);
  } else {
    evaluated.insert(image_ids.begin(), image_ids.end());
  }
  DarknetMapResult out;
  std::unordered_map<int64_t, size_t> class_index;
  std::vector<CocoCategory> categories = dataset.categories;
  std::sort(categories.begin(), categories.end(),
            [](const CocoCategory& x, const CocoCategory& y) { return x.id < y.id; });
  for (const CocoCategory& category : categories) {
    class_index[category.id] = out.classes.size();
    out.classes.push_back({category.id, category.name, 0, 0, 0, 0});
  }
  if (out.classes.empty()) return out;

  // Ground truth per (image, class), in file order; crowd regions are not darknet labels.
  struct ImageClass {
    int64_t image_id, category_id;
    bool operator==(const ImageClass&) const = default;
  };
  struct ImageClassHash {
    size_t operator()(const ImageClass& key) const {
      return std::hash<int64_t>()(key.image_id) * 1000003u ^ std::hash<int64_t>()(key.category_id);
    }
  };
  std::unordered_map<ImageClass, std::vector<size_t>, ImageClassHash> truths;
  for (size_t n = 0; n < dataset.annotations.size(); ++n) {
    const CocoAnnotation& truth = dataset.annotations[n];
    if (truth.iscrowd || !evaluated.count(truth.image_id)) continue;
    truths[{truth.image_id, truth.category_id}].push_back(n);
    ++out.classes[class_index.at(truth.category_id)].truths;
  }

  // Each result's best ground truth (IoU > threshold, the first of equal IoUs), decided per
  // result before any ranking, as darknet does.
  struct Ranked {
    double score;
    size_t truth;  // annotation index, or SIZE_MAX
  };
  std::vector<std::vector<Ranked>> per_class(out.classes.size());
  for (const CocoResult& result : results) {
    if (result.score <= options.score_threshold || !evaluated.count(result.image_id)) continue;
    const auto cls = class_index.find(result.category_id);
    if (cls == class_index.end()) continue;
    Ranked ranked{result.score, SIZE_MAX};
    double best_iou = 0;
    const auto candidates = truths.find({result.image_id, result.category_id});
    if (candidates != truths.end()) {
      for (size_t n : candidates->second) {
        const double iou = coco_box_iou(result.bbox, dataset.annotations[n].bbox, false);
        if (iou > options.iou_threshold && iou > best_iou) {
          best_iou = iou;
          ranked.truth = n;
        }
      }
    }
    per_class[cls->second].push_back(ranked);
  }

  std::vector<uint8_t> truth_taken(dataset.annotations.size());
  double ap_sum = 0;
  for (size_t k = 0; k < out.classes.size(); ++k) {
    DarknetClassAp& cls = out.classes[k];
    std::vector<Ranked>& ranked = per_class[k];
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const Ranked& x, const Ranked& y) { return x.score > y.score; });
    std::vector<double> precision(ranked.size()), recall(ranked.size());
    for (size_t rank = 0; rank < ranked.size(); ++rank) {
      const size_t truth = ranked[rank].truth;
      if (truth != SIZE_MAX && !truth_taken[truth]) {
        truth_taken[truth] = 1;
        ++cls.true_positives;
      } else {
        ++cls.false_positives;
      }
      const double tp = static_cast<double>(cls.true_positives);
      precision[rank] = tp / static_cast<double>(cls.true_positives + cls.false_positives);
      recall[rank] = cls.truths ? tp / static_cast<double>(cls.truths) : 0.0;
    }
    cls.ap = all_point_ap(precision, recall);
    ap_sum += cls.ap;
  }
  out.map = ap_sum / static_cast<double>(out.classes.size());
  return out;
}

std::string format_darknet_map(const DarknetMapResult& result) {
  std::string text;
  char line[256];
  for (const DarknetClassAp& cls : result.classes) {
    std::snprintf(line, sizeof(line),
                  "class_id = %lld, name = %s, ap = %.2f%%   (ground truth = %lld, TP = %lld, "
                  "FP = %lld)\n",
                  static_cast<long long>(cls.category_id), cls.name.c_str(), cls.ap * 100,
                  static_cast<long long>(cls.truths), static_cast<long long>(cls.true_positives),
                  static_cast<long long>(cls.false_positives));
    text += line;
  }
  std::snprintf(line, sizeof(line),
                "darknet mean average precision (mAP@0.50, detector map) = %.6f, or %.2f %%\n",
                result.map, result.map * 100);
  return text + line;
}

}  // namespace yolo4
