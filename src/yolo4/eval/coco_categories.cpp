#include "yolo4/eval/coco_categories.h"

#include <algorithm>
#include <array>

namespace yolo4 {

namespace {

// instances_*.json's category ids in class order; 12, 26, 29, 30, 45, 66, 68, 69, 71, 83 (and
// 91) were never annotated.
constexpr std::array<int64_t, 80> kCategoryIds = {
    1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21,
    22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,
    46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65,
    67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90};

}  // namespace

std::span<const int64_t> coco_category_ids() {
  return kCategoryIds;
}

std::optional<int> coco_class_of_category(int64_t category_id) {
  const auto* found = std::lower_bound(kCategoryIds.begin(), kCategoryIds.end(), category_id);
  if (found == kCategoryIds.end() || *found != category_id) return std::nullopt;
  return static_cast<int>(found - kCategoryIds.begin());
}

}  // namespace yolo4
