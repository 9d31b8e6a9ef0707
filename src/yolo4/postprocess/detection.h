// One detected object, in original image pixels.
#pragma once

namespace yolo4 {

// Box corners are in the original image's pixel coordinates (x right, y down), clipped to
// [0, width] x [0, height]; score = objectness * class probability.
struct Detection {
  int class_id;
  float score;
  float x1, y1, x2, y2;
};

}  // namespace yolo4
