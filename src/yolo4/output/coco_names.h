// The 80 COCO class names of the YOLOv4 checkpoints, in class-id order (darknet's coco.names).
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace yolo4 {

inline constexpr int kCocoClasses = 80;

std::span<const std::string_view> coco_names();

// The name of class_id in names, or "class<id>" when names does not cover it (custom models).
std::string class_name(std::span<const std::string_view> names, int class_id);

}  // namespace yolo4
