// The 80 classes of COCO-trained detectors (darknet's coco.names order) and COCO's category ids
// (1..90 with gaps: the 2014 paper listed 91 categories, 11 of which were never annotated).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace yolo4 {

// coco_category_ids()[class_id] is the category id of class class_id (0 person -> 1, ...,
// 79 toothbrush -> 90).
std::span<const int64_t> coco_category_ids();

// The class id of a COCO category id; empty for ids that are not one of the 80.
std::optional<int> coco_class_of_category(int64_t category_id);

}  // namespace yolo4
