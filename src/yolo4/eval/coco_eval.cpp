#include "yolo4/eval/coco_eval.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <unordered_map>

#include "yolo4/core/error.h"

namespace yolo4 {

namespace {

constexpr int T = kCocoIouThresholds;
constexpr int R = kCocoRecallThresholds;
constexpr int A = kCocoAreaRanges;
constexpr int M = kCocoMaxDetSettings;
constexpr int kMaxDets = kCocoMaxDets[M - 1];

// pycocotools' params.areaRng: [0^2, 1e5^2], [0^2, 32^2], [32^2, 96^2], [96^2, 1e5^2].
constexpr std::array<std::array<double, 2>, A> kAreaRanges = {{
    {0.0, 1e10},
    {0.0, 32.0 * 32.0},
    {32.0 * 32.0, 96.0 * 96.0},
    {96.0 * 96.0, 1e10},
}};

bool outside(double area, int a) {
  return area < kAreaRanges[a][0] || area > kAreaRanges[a][1];
}

// evaluateImg's output for one (category, area range, image) that has ground truth or results.
struct ImageEval {
  std::vector<double> scores;    // D, best first
  std::vector<uint8_t> matched;  // [t * D + d]: matched a ground truth (whose id is not 0)
  std::vector<uint8_t> ignored;  // [t * D + d]
  int64_t regular_truths = 0;    // ground truth not ignored in this area range
};

// The ground truth and results of one image in one category.
struct ImageCategory {
  std::vector<const CocoAnnotation*> truths;  // file order
  std::vector<const CocoResult*> results;     // best first, at most kMaxDets
};

// evaluateImg: greedy matching, best result first, for every IoU threshold.
ImageEval evaluate_image(const ImageCategory& group, const std::vector<double>& ious, int a,
                         const std::array<double, T>& iou_thresholds) {
  const size_t G = group.truths.size(), D = group.results.size();
  // Ground truth that is crowd or outside the area range is ignored; regular ones go first
  // (a stable sort on the ignore flag, as pycocotools' mergesort).
  std::vector<uint8_t> truth_ignored(G);
  for (size_t g = 0; g < G; ++g) {
    const CocoAnnotation& truth = *group.truths[g];
    truth_ignored[g] = truth.iscrowd || outside(truth.area, a);
  }
  std::vector<size_t> order(G);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return truth_ignored[x] < truth_ignored[y]; });

  ImageEval eval;
  eval.scores.resize(D);
  for (size_t d = 0; d < D; ++d) eval.scores[d] = group.results[d]->score;
  eval.matched.assign(T * D, 0);
  eval.ignored.assign(T * D, 0);
  for (size_t g = 0; g < G; ++g) eval.regular_truths += truth_ignored[g] == 0;

  std::vector<uint8_t> truth_taken(G);
  for (int t = 0; t < T; ++t) {
    std::fill(truth_taken.begin(), truth_taken.end(), 0);
    for (size_t d = 0; d < D; ++d) {
      double best = std::min(iou_thresholds[t], 1 - 1e-10);
      ptrdiff_t match = -1;  // position in `order`
      for (size_t j = 0; j < G; ++j) {
        const size_t g = order[j];
        if (truth_taken[j] && !group.truths[g]->iscrowd) continue;
        // Matched to a regular ground truth already: the ignored ones that follow cannot win.
        if (match > -1 && !truth_ignored[order[match]] && truth_ignored[g]) break;
        const double iou = ious[d * G + g];
        if (iou < best) continue;
        best = iou;
        match = static_cast<ptrdiff_t>(j);
      }
      if (match == -1) continue;
      const CocoAnnotation& truth = *group.truths[order[match]];
      eval.ignored[t * D + d] = truth_ignored[order[match]];
      // pycocotools records the match as the ground truth's id and later reads id 0 as "no
      // match"; kept, so that files with an annotation id 0 score as there.
      eval.matched[t * D + d] = truth.id != 0;
      truth_taken[match] = 1;
    }
  }
  // Unmatched results outside the area range are ignored.
  for (size_t d = 0; d < D; ++d) {
    const CocoBox& box = group.results[d]->bbox;
    if (!outside(box[2] * box[3], a)) continue;
    for (int t = 0; t < T; ++t) {
      if (!eval.matched[t * D + d]) eval.ignored[t * D + d] = 1;
    }
  }
  return eval;
}

// accumulate for one (category, area range, max results): writes precision[t][r] and recall[t]
// through the callbacks; leaves them at -1 when there is no regular ground truth.
template <class SetPrecision, class SetRecall>
void accumulate(const std::vector<ImageEval>& images, int max_dets,
                const std::array<double, R>& recall_thresholds, SetPrecision set_precision,
                SetRecall set_recall) {
  int64_t regular_truths = 0;
  std::vector<double> scores;
  std::vector<std::pair<size_t, size_t>> source;  // (image, result) of each concatenated result
  for (size_t i = 0; i < images.size(); ++i) {
    regular_truths += images[i].regular_truths;
    const size_t n = std::min(images[i].scores.size(), static_cast<size_t>(max_dets));
    for (size_t d = 0; d < n; ++d) {
      scores.push_back(images[i].scores[d]);
      source.emplace_back(i, d);
    }
  }
  if (regular_truths == 0) return;
  const size_t N = scores.size();
  std::vector<size_t> order(N);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return scores[x] > scores[y]; });

  std::vector<double> recall(N), precision(N);
  for (int t = 0; t < T; ++t) {
    double tp = 0, fp = 0;
    for (size_t n = 0; n < N; ++n) {
      const auto [i, d] = source[order[n]];
      const size_t D = images[i].scores.size();
      if (!images[i].ignored[t * D + d]) (images[i].matched[t * D + d] ? tp : fp) += 1;
      recall[n] = tp / static_cast<double>(regular_truths);
      precision[n] = tp / (fp + tp + DBL_EPSILON);  // numpy.spacing(1)
    }
    set_recall(t, N ? recall[N - 1] : 0.0);
    // The envelope: precision at recall r is the best precision at any recall >= r.
    for (size_t n = N; n-- > 1;) precision[n - 1] = std::max(precision[n - 1], precision[n]);
    for (int r = 0; r < R; ++r) {
      const size_t n = static_cast<size_t>(
          std::lower_bound(recall.begin(), recall.end(), recall_thresholds[r]) - recall.begin());
      set_precision(t, r, n < N ? precision[n] : 0.0);
    }
  }
}

// The mean of the entries > -1, or -1 when there are none (summarize's _summarize).
double mean_of_valid(const std::vector<double>& values) {
  double sum = 0;
  int64_t count = 0;
  for (double v : values) {
    if (v > -1) {
      sum += v;
      ++count;
    }
  }
  return count ? sum / static_cast<double>(count) : -1.0;
}

}  // namespace

std::array<double, kCocoIouThresholds> coco_iou_thresholds() {
  std::array<double, T> thresholds;
  const double step = (0.95 - 0.5) / (T - 1);
  for (int t = 0; t < T; ++t) thresholds[t] = t * step + 0.5;
  thresholds[T - 1] = 0.95;
  return thresholds;
}

std::array<double, kCocoRecallThresholds> coco_recall_thresholds() {
  std::array<double, R> thresholds;
  const double step = (1.0 - 0.0) / (R - 1);
  for (int r = 0; r < R; ++r) thresholds[r] = r * step + 0.0;
  thresholds[R - 1] = 1.0;
  return thresholds;
}

double coco_box_iou(const CocoBox& d, const CocoBox& g, bool truth_is_crowd) {
  const double w = std::fmin(d[2] + d[0], g[2] + g[0]) - std::fmax(d[0], g[0]);
  if (w <= 0) return 0;
  const double h = std::fmin(d[3] + d[1], g[3] + g[1]) - std::fmax(d[1], g[1]);
  if (h <= 0) return 0;
  const double intersection = w * h;
  const double result_area = d[2] * d[3];
  const double truth_area = g[2] * g[3];
  const double union_area = truth_is_crowd ? result_area : result_area + truth_area - intersection;
  return intersection / union_area;
}

double CocoEvalResult::category_ap(size_t k) const {
  const size_t K = category_ids.size();
  YOLO4_CHECK(k < K, "category_ap: index ", k, " out of ", K, " categories");
  std::vector<double> values;
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) values.push_back(precision[((t * R + r) * K + k) * A * M + M - 1]);
  }
  return mean_of_valid(values);
}

CocoEvalResult evaluate_coco_bbox(const CocoDataset& dataset, std::span<const CocoResult> results,
                                  std::span<const int64_t> image_ids) {
  CocoEvalResult out;
  // params.imgIds and params.catIds: sorted, unique.
  std::vector<int64_t> images;
  if (image_ids.empty()) {
    for (const CocoImage& image : dataset.images) images.push_back(image.id);
  } else {
    images.assign(image_ids.begin(), image_ids.end());
  }
  std::sort(images.begin(), images.end());
  images.erase(std::unique(images.begin(), images.end()), images.end());
  for (const CocoCategory& category : dataset.categories) out.category_ids.push_back(category.id);
  std::sort(out.category_ids.begin(), out.category_ids.end());
  out.images = static_cast<int64_t>(images.size());

  std::unordered_map<int64_t, size_t> image_index, category_index;
  for (size_t i = 0; i < images.size(); ++i) image_index[images[i]] = i;
  for (size_t k = 0; k < out.category_ids.size(); ++k) category_index[out.category_ids[k]] = k;
  const size_t K = out.category_ids.size();

  // (category, image) of every annotation and result that is evaluated, grouped by a stable
  // sort so that each group keeps file order.
  struct Key {
    size_t category, image, index;
  };
  auto by_group = [](const Key& x, const Key& y) {
    return std::tie(x.category, x.image) < std::tie(y.category, y.image);
  };
  std::vector<Key> truth_keys, result_keys;
  for (size_t n = 0; n < dataset.annotations.size(); ++n) {
    const CocoAnnotation& truth = dataset.annotations[n];
    const auto image = image_index.find(truth.image_id);
    const auto category = category_index.find(truth.category_id);
    if (image == image_index.end() || category == category_index.end()) continue;
    truth_keys.push_back({category->second, image->second, n});
  }
  for (size_t n = 0; n < results.size(); ++n) {
    const auto image = image_index.find(results[n].image_id);
    const auto category = category_index.find(results[n].category_id);
    if (category == category_index.end()) ++out.results_skipped;
    if (image == image_index.end() || category == category_index.end()) continue;
    result_keys.push_back({category->second, image->second, n});
  }
  std::stable_sort(truth_keys.begin(), truth_keys.end(), by_group);
  std::stable_sort(result_keys.begin(), result_keys.end(), by_group);

  out.precision.assign(static_cast<size_t>(T) * R * K * A * M, -1.0);
  out.recall.assign(static_cast<size_t>(T) * K * A * M, -1.0);
  const auto iou_thresholds = coco_iou_thresholds();
  const auto recall_thresholds = coco_recall_thresholds();

  size_t next_truth = 0, next_result = 0;
  for (size_t k = 0; k < K; ++k) {
    std::array<std::vector<ImageEval>, A> per_area;  // images in ascending id order
    for (;;) {
      // The next image of this category with ground truth or results.
      const bool has_truth = next_truth < truth_keys.size() && truth_keys[next_truth].category == k;
      const bool has_result =
          next_result < result_keys.size() && result_keys[next_result].category == k;
      if (!has_truth && !has_result) break;
      const size_t image = std::min(has_truth ? truth_keys[next_truth].image : images.size(),
                                    has_result ? result_keys[next_result].image : images.size());
      ImageCategory group;
      for (; next_truth < truth_keys.size() && truth_keys[next_truth].category == k &&
             truth_keys[next_truth].image == image;
           ++next_truth) {
        group.truths.push_back(&dataset.annotations[truth_keys[next_truth].index]);
      }
      for (; next_result < result_keys.size() && result_keys[next_result].category == k &&
             result_keys[next_result].image == image;
           ++next_result) {
        group.results.push_back(&results[result_keys[next_result].index]);
      }
      std::stable_sort(
          group.results.begin(), group.results.end(),
          [](const CocoResult* x, const CocoResult* y) { return x->score > y->score; });
      if (group.results.size() > static_cast<size_t>(kMaxDets)) group.results.resize(kMaxDets);

      const size_t G = group.truths.size(), D = group.results.size();
      std::vector<double> ious(D * G);
      for (size_t d = 0; d < D; ++d) {
        for (size_t g = 0; g < G; ++g) {
          ious[d * G + g] =
              coco_box_iou(group.results[d]->bbox, group.truths[g]->bbox, group.truths[g]->iscrowd);
        }
      }
      for (int a = 0; a < A; ++a)
        per_area[a].push_back(evaluate_image(group, ious, a, iou_thresholds));
    }
    for (int a = 0; a < A; ++a) {
      for (int m = 0; m < M; ++m) {
        accumulate(
            per_area[a], kCocoMaxDets[m], recall_thresholds,
            [&](int t, int r, double value) {
              out.precision[((t * R + r) * K + k) * A * M + a * M + m] = value;
            },
            [&](int t, double value) { out.recall[((t * K + k) * A + a) * M + m] = value; });
      }
    }
  }

  // summarize(): means over the valid entries of slices of precision and recall.
  auto precision_mean = [&](int t_only, int a, int m) {
    std::vector<double> values;
    for (int t = 0; t < T; ++t) {
      if (t_only >= 0 && t != t_only) continue;
      for (int r = 0; r < R; ++r) {
        for (size_t k = 0; k < K; ++k)
          values.push_back(out.precision[((t * R + r) * K + k) * A * M + a * M + m]);
      }
    }
    return mean_of_valid(values);
  };
  auto recall_mean = [&](int a, int m) {
    std::vector<double> values;
    for (int t = 0; t < T; ++t) {
      for (size_t k = 0; k < K; ++k) values.push_back(out.recall[((t * K + k) * A + a) * M + m]);
    }
    return mean_of_valid(values);
  };
  constexpr int kAll = -1, kIou50 = 0, kIou75 = 5;
  out.stats = {precision_mean(kAll, 0, 2),
               precision_mean(kIou50, 0, 2),
               precision_mean(kIou75, 0, 2),
               precision_mean(kAll, 1, 2),
               precision_mean(kAll, 2, 2),
               precision_mean(kAll, 3, 2),
               recall_mean(0, 0),
               recall_mean(0, 1),
               recall_mean(0, 2),
               recall_mean(1, 2),
               recall_mean(2, 2),
               recall_mean(3, 2)};
  return out;
}

std::string format_coco_summary(const CocoStats& stats) {
  struct Line {
    bool ap;
    const char* iou;
    const char* area;
    int max_dets;
  };
  static constexpr std::array<Line, 12> kLines = {{
      {true, "0.50:0.95", "all", 100},
      {true, "0.50", "all", 100},
      {true, "0.75", "all", 100},
      {true, "0.50:0.95", "small", 100},
      {true, "0.50:0.95", "medium", 100},
      {true, "0.50:0.95", "large", 100},
      {false, "0.50:0.95", "all", 1},
      {false, "0.50:0.95", "all", 10},
      {false, "0.50:0.95", "all", 100},
      {false, "0.50:0.95", "small", 100},
      {false, "0.50:0.95", "medium", 100},
      {false, "0.50:0.95", "large", 100},
  }};
  std::string text;
  for (size_t i = 0; i < kLines.size(); ++i) {
    const Line& line = kLines[i];
    // pycocotools: ' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}'
    char buffer[128];
    std::snprintf(buffer, sizeof(buffer),
                  " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                  line.ap ? "Average Precision" : "Average Recall", line.ap ? "(AP)" : "(AR)",
                  line.iou, line.area, line.max_dets, stats[i]);
    text += buffer;
  }
  return text;
}

}  // namespace yolo4
