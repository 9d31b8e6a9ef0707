// Draws detections onto an image: a box, the class name and the score per detection.
#pragma once

#include <opencv2/core.hpp>
#include <span>
#include <string_view>

#include "yolo4/output/coco_names.h"
#include "yolo4/postprocess/detection.h"

namespace yolo4 {

struct DrawOptions {
  bool show_score = true;
  double font_scale = 0;  // 0: from the image size
  int thickness = 0;      // box line width in pixels; 0: from the image size
};

// A fixed colour (BGR) per class: hues spread by the golden ratio so neighbouring ids differ.
cv::Scalar class_color(int class_id);

// Draws onto image (8-bit BGR) in place; boxes are in its pixel coordinates.
void draw_detections(cv::Mat& image, std::span<const Detection> detections,
                     std::span<const std::string_view> names = coco_names(),
                     const DrawOptions& options = {});

}  // namespace yolo4
