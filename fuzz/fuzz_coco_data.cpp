// yolo4 eval's COCO readers: an instances file, then a results file read against it, evaluated
// both ways, written and read back. Input: annotations JSON, NUL, results JSON. When the
// annotations do not parse, the results are read against a fixed small dataset instead, so the
// results reader is fuzzed on every input.
#include <sstream>

#include "fuzz_util.h"
#include "yolo4/eval/coco_data.h"
#include "yolo4/eval/coco_eval.h"
#include "yolo4/eval/darknet_map.h"

namespace {

using namespace yolo4;

// Evaluation costs images x categories x 10 IoU thresholds x 101 recall points; an 8 KB input
// can list hundreds of each, which is valid but slow. Fuzz-only bound, so executions stay fast.
constexpr size_t kMaxEvaluatedImageCategories = 4096;

const CocoDataset& fallback_dataset() {
  static const CocoDataset dataset = parse_coco_annotations(
      R"({"images": [{"id": 1, "width": 64, "height": 48}, {"id": 2}],
          "categories": [{"id": 1, "name": "a"}, {"id": 3, "name": "b"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 20],
                           "area": 200}]})",
      "fallback");
  return dataset;
}

// What write_coco_results promises: the file reads back as the same numbers, bit for bit.
void check_round_trip(const CocoDataset& dataset, const std::vector<CocoResult>& results) {
  std::ostringstream out;
  write_coco_results(out, results);
  const std::vector<CocoResult> back = parse_coco_results(out.str(), "written", dataset);
  if (back.size() != results.size()) __builtin_trap();
  for (size_t i = 0; i < back.size(); ++i) {
    const CocoResult &a = results[i], &b = back[i];
    if (a.image_id != b.image_id || a.category_id != b.category_id || a.score != b.score ||
        a.bbox != b.bbox) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [annotations, results] = fuzz::split_at_nul({data, size});
  const std::string_view annotations_text(reinterpret_cast<const char*>(annotations.data()),
                                          annotations.size());
  const std::string_view results_text(reinterpret_cast<const char*>(results.data()),
                                      results.size());
  CocoDataset dataset;
  try {
    dataset = parse_coco_annotations(annotations_text, "annotations");
  } catch (const Error&) {
    dataset = fallback_dataset();
  }
  fuzz::expect_ok_or_error([&] {
    const std::vector<CocoResult> parsed = parse_coco_results(results_text, "results", dataset);
    check_round_trip(dataset, parsed);
    if (dataset.images.size() * dataset.categories.size() > kMaxEvaluatedImageCategories) return;
    evaluate_coco_bbox(dataset, parsed);
    evaluate_darknet_map(dataset, parsed);
  });
  return 0;
}
