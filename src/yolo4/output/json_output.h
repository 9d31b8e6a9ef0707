// Detections as JSON: a list with one object per image or video frame.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "yolo4/output/coco_names.h"
#include "yolo4/postprocess/detection.h"

namespace yolo4 {

struct ImageResult {
  std::string image;             // the input path
  std::optional<int64_t> frame;  // frame index for video inputs
  int width = 0, height = 0;     // original image size in pixels
  std::vector<Detection> detections;
};

// text as a quoted JSON string (nlohmann-json's escaping): quotes, backslashes and control
// characters escaped; bytes that are not valid UTF-8 (possible in file names) become \ufffd so
// the output stays valid JSON.
std::string json_string(std::string_view text);

// value with a fixed number of decimals ("0.50000"), never "-0.00"; null when not finite.
std::string json_number(float value, int decimals);

// {"image": ..., ["frame": n,] "width": w, "height": h, "detections": [{"class_id", "class",
// "score", "box": [x1, y1, x2, y2]}, ...]}; scores with 5 decimals, box corners with 2.
std::string to_json(const ImageResult& result,
                    std::span<const std::string_view> names = coco_names());

// Streams results as one JSON list, so that long videos need not be held in memory.
class JsonListWriter {
 public:
  explicit JsonListWriter(std::ostream& out,
                          std::span<const std::string_view> names = coco_names());
  JsonListWriter(const JsonListWriter&) = delete;
  JsonListWriter& operator=(const JsonListWriter&) = delete;
  ~JsonListWriter();  // closes the list if close() was not called

  void write(const ImageResult& result);
  void close();  // writes the closing bracket ("[]" when nothing was written); idempotent

 private:
  std::ostream& out_;
  std::span<const std::string_view> names_;
  int64_t written_ = 0;
  bool closed_ = false;
};

void write_json(std::ostream& out, std::span<const ImageResult> results,
                std::span<const std::string_view> names = coco_names());

}  // namespace yolo4
