#include "yolo4/postprocess/nms.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "yolo4/core/error.h"

namespace yolo4 {
namespace {

float area(const Detection& d) {
  return (d.x2 - d.x1) * (d.y2 - d.y1);
}

void check_options(const NmsOptions& options) {
  YOLO4_CHECK(std::isfinite(options.iou_threshold), "nms: IoU threshold ", options.iou_threshold,
              " is not a number");
  YOLO4_CHECK(options.diou_beta > 0, "nms: DIoU beta ", options.diou_beta, " must be positive");
  YOLO4_CHECK(options.max_detections >= 0, "nms: max_detections ", options.max_detections,
              " must be >= 0 (0 keeps all)");
}

bool overlaps(const Detection& a, const Detection& b, const NmsOptions& options) {
  const float overlap =
      options.kind == NmsKind::kIou ? box_iou(a, b) : box_diou(a, b, options.diou_beta);
  return overlap > options.iou_threshold;
}

}  // namespace

float box_iou(const Detection& a, const Detection& b) {
  const float w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const float h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (!(w > 0 && h > 0)) return 0.0f;
  const float intersection = w * h;
  const float union_area = area(a) + area(b) - intersection;
  return union_area > 0 ? intersection / union_area : 0.0f;
}

float box_diou(const Detection& a, const Detection& b, float beta) {
  const float iou = box_iou(a, b);
  const float cw = std::max(a.x2, b.x2) - std::min(a.x1, b.x1);
  const float ch = std::max(a.y2, b.y2) - std::min(a.y1, b.y1);
  const float c = cw * cw + ch * ch;
  if (c == 0) return iou;
  const float dx = 0.5f * (a.x1 + a.x2) - 0.5f * (b.x1 + b.x2);
  const float dy = 0.5f * (a.y1 + a.y2) - 0.5f * (b.y1 + b.y2);
  return iou - std::pow((dx * dx + dy * dy) / c, beta);
}

std::vector<Detection> nms(const std::vector<Detection>& detections, const NmsOptions& options) {
  check_options(options);
  std::vector<size_t> order(detections.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return detections[a].score > detections[b].score; });
  // Greedy NMS: a box survives when no higher-scoring survivor of its class overlaps it, so
  // visiting by descending score and comparing with the survivors so far is the same algorithm.
  std::map<int, std::vector<Detection>> kept_by_class;
  std::vector<Detection> kept;
  for (size_t index : order) {
    const Detection& candidate = detections[index];
    auto& same_class = kept_by_class[options.class_agnostic ? 0 : candidate.class_id];
    const bool suppressed =
        std::any_of(same_class.begin(), same_class.end(),
                    [&](const Detection& k) { return overlaps(k, candidate, options); });
    if (suppressed) continue;
    same_class.push_back(candidate);
    kept.push_back(candidate);
    // Later candidates score lower, so the cap is reached exactly when the highest are kept.
    if (kept.size() == static_cast<size_t>(options.max_detections)) break;
  }
  return kept;
}

}  // namespace yolo4
