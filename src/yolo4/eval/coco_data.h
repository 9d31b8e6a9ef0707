// COCO annotation files and detection results files (bbox only), as pycocotools reads them.
// Reading checks what the evaluation relies on, so a malformed or inconsistent file is a
// yolo4::Error naming the file, the entry and the field, never a crash or a silent mistake.
#pragma once

#include <array>
#include <cstdint>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "yolo4/postprocess/detection.h"

namespace yolo4 {

// [x, y, width, height] in image pixels, (x, y) the top-left corner.
using CocoBox = std::array<double, 4>;

struct CocoImage {
  int64_t id = 0;
  std::string file_name;      // empty when the file has none
  int width = 0, height = 0;  // 0 when the file has none
};

struct CocoCategory {
  int64_t id = 0;
  std::string name;
};

struct CocoAnnotation {
  int64_t id = 0, image_id = 0, category_id = 0;
  CocoBox bbox{};
  double area = 0;  // the segmentation's area: what the area ranges use, not the box's
  bool iscrowd = false;
};

// The parts of an instances_*.json file that bbox evaluation uses, in file order.
struct CocoDataset {
  std::vector<CocoImage> images;
  std::vector<CocoCategory> categories;
  std::vector<CocoAnnotation> annotations;
};

// One line of a results file: {"image_id", "category_id", "bbox": [x, y, w, h], "score"}.
struct CocoResult {
  int64_t image_id = 0, category_id = 0;
  CocoBox bbox{};
  double score = 0;
};

// A detection (corners in image pixels) as a result: [x1, y1, x2 - x1, y2 - y1], rounded to 1/100
// pixel, the score to 1e-6, so that a written results file holds exactly the evaluated numbers.
CocoResult coco_result(const Detection& detection, int64_t image_id, int64_t category_id);

// Requires "images", "annotations" and "categories" arrays; ids are integers, unique within
// their array; every annotation names a listed image and category and has a bbox with
// non-negative size and an area; "iscrowd" (0/1 or a boolean) defaults to 0. `name` appears in
// error messages.
CocoDataset parse_coco_annotations(std::string_view json, const std::string& name);
CocoDataset load_coco_annotations(const std::string& path);

// A results file is a JSON array of results. Every image_id must be an image of `dataset`
// (pycocotools asserts the same); results of categories the dataset does not list are kept here
// and skipped by the evaluation, as pycocotools does.
std::vector<CocoResult> parse_coco_results(std::string_view json, const std::string& name,
                                           const CocoDataset& dataset);
std::vector<CocoResult> load_coco_results(const std::string& path, const CocoDataset& dataset);

// Writes results as a JSON array, one result per line, each number in the shortest form that
// reads back as the same double (so scoring the file reproduces the in-memory scores exactly).
void write_coco_results(std::ostream& out, std::span<const CocoResult> results);
void save_coco_results(const std::string& path, std::span<const CocoResult> results);

}  // namespace yolo4
