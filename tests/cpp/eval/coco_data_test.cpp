// Reading COCO annotation and results files: what is accepted, and that every malformed or
// inconsistent file is an Error naming the file, the entry and the problem. Writing results, and
// the 80-class -> COCO category id table.
#include "yolo4/eval/coco_data.h"

#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "yolo4/core/error.h"
#include "yolo4/eval/coco_categories.h"
#include "yolo4/eval/coco_eval.h"
#include "yolo4/eval/darknet_map.h"

namespace yolo4 {
namespace {

constexpr const char* kAnnotations = R"({
  "info": {"year": 2017},
  "images": [{"id": 42, "file_name": "a.jpg", "width": 640, "height": 480}, {"id": 7.0}],
  "categories": [{"id": 18, "name": "dog", "supercategory": "animal"}, {"id": 1, "name": "person"}],
  "annotations": [
    {"id": 1, "image_id": 42, "category_id": 18, "bbox": [1.5, 2, 30, 40.25], "area": 900.5,
     "iscrowd": 0, "segmentation": [[1, 2, 3, 4]]},
    {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 1},
    {"id": 3, "image_id": 7, "category_id": 1, "bbox": [0, 0, 1e1, 1E1], "area": 100}
  ]})";

// The message of the Error that parsing `json` throws ("" if it does not throw).
std::string annotation_error(const std::string& json) {
  try {
    parse_coco_annotations(json, "gt.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string results_error(const std::string& json) {
  const CocoDataset dataset = parse_coco_annotations(kAnnotations, "gt.json");
  try {
    parse_coco_results(json, "res.json", dataset);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CocoData, ReadsAnnotations) {
  const CocoDataset d = parse_coco_annotations(kAnnotations, "gt.json");
  ASSERT_EQ(d.images.size(), 2u);
  EXPECT_EQ(d.images[0].id, 42);
  EXPECT_EQ(d.images[0].file_name, "a.jpg");
  EXPECT_EQ(d.images[0].width, 640);
  EXPECT_EQ(d.images[0].height, 480);
  EXPECT_EQ(d.images[1].id, 7);  // 7.0 is the integer 7, as for Python's dict keys
  EXPECT_EQ(d.images[1].file_name, "");
  ASSERT_EQ(d.categories.size(), 2u);
  EXPECT_EQ(d.categories[0].id, 18);
  EXPECT_EQ(d.categories[0].name, "dog");
  ASSERT_EQ(d.annotations.size(), 3u);
  const CocoAnnotation& a = d.annotations[0];
  EXPECT_EQ(a.image_id, 42);
  EXPECT_EQ(a.category_id, 18);
  EXPECT_EQ(a.bbox, (CocoBox{1.5, 2, 30, 40.25}));
  EXPECT_EQ(a.area, 900.5);
  EXPECT_FALSE(a.iscrowd);
  EXPECT_TRUE(d.annotations[1].iscrowd);
  EXPECT_FALSE(d.annotations[2].iscrowd);  // no "iscrowd": 0
  EXPECT_EQ(d.annotations[2].bbox[3], 10.0);
}

TEST(CocoData, MalformedOrInconsistentAnnotationsAreClearErrors) {
  struct Case {
    std::string json, expected;
  };
  const std::string ok_images = R"("images": [{"id": 1}], "categories": [{"id": 3}])";
  auto with = [&](const std::string& annotation) {
    return "{" + ok_images + R"(, "annotations": [)" + annotation + "]}";
  };
  const std::vector<Case> cases = {
      {"", "gt.json: not valid JSON"},
      {R"({"images": [)", "gt.json: not valid JSON"},
      {"[1, 2]", "gt.json: must be a JSON object with 'images', 'annotations' and 'categories'"},
      {R"({"images": [], "categories": []})", "gt.json: has no 'annotations'"},
      {R"({"images": {}, "annotations": [], "categories": []})",
       "gt.json: 'images' must be an array, not an object"},
      {R"({"images": [{"file_name": "x.jpg"}], "annotations": [], "categories": []})",
       "gt.json: images[0]: has no 'id'"},
      {R"({"images": [{"id": "one"}], "annotations": [], "categories": []})",
       "gt.json: images[0]: 'id' must be an integer, not a string"},
      {R"({"images": [{"id": 1}, {"id": 1}], "annotations": [], "categories": []})",
       "gt.json: images[1] (id 1): image id 1 appears more than once"},
      {R"({"images": [{"id": 1, "width": -3}], "annotations": [], "categories": []})",
       "gt.json: images[0] (id 1): 'width' = -3 is not an image size"},
      {R"({"images": [{"id": 1}], "annotations": [], "categories": [{"id": 3}, {"id": 3}]})",
       "gt.json: categories[1] (id 3): category id 3 appears more than once"},
      {with("7"), "gt.json: annotations[0]: must be an object, not a number"},
      {with(R"({"id": 5, "image_id": 2, "category_id": 3, "bbox": [0,0,1,1], "area": 1})"),
       "gt.json: annotations[0] (id 5): image_id 2 is not in 'images'"},
      {with(R"({"id": 5, "image_id": 1, "category_id": 4, "bbox": [0,0,1,1], "area": 1})"),
       "gt.json: annotations[0] (id 5): category_id 4 is not in 'categories'"},
      {with(R"({"id": 5, "image_id": 1, "category_id": 3, "bbox": [0,0,1], "area": 1})"),
       "gt.json: annotations[0] (id 5): 'bbox' must be an array of 4 numbers"},
      {with(R"({"id": 5, "image_id": 1, "category_id": 3, "bbox": [0,0,1,"2"], "area": 1})"),
       "gt.json: annotations[0] (id 5): 'bbox' must be a number, not a string"},
      {with(R"({"id": 5, "image_id": 1, "category_id": 3, "bbox": [0,0,-1,2], "area": 1})"),
       "gt.json: annotations[0] (id 5): 'bbox' has a negative size"},
      {with(R"({"id": 5, "image_id": 1, "category_id": 3, "bbox": [0,0,1,1]})"),
       "gt.json: annotations[0] (id 5): has no 'area'"},
      {with(R"({"id": 5, "image_id": 1, "category_id": 3, "bbox": [0,0,1,1], "area": 1,
               "iscrowd": 2})"),
       "gt.json: annotations[0] (id 5): 'iscrowd' must be 0 or 1, not 2"},
      {with(R"({"id": 5, "image_id": 1, "category_id": 3, "bbox": [0,0,1,1], "area": 1},
               {"id": 5, "image_id": 1, "category_id": 3, "bbox": [0,0,1,1], "area": 1})"),
       "gt.json: annotations[1] (id 5): annotation id 5 appears more than once"},
  };
  for (const Case& c : cases) {
    const std::string message = annotation_error(c.json);
    EXPECT_EQ(message.rfind(c.expected, 0), 0u) << "json: " << c.json << "\nmessage: " << message;
  }
}

TEST(CocoData, ReadsResultsAndRejectsInconsistentOnes) {
  const CocoDataset dataset = parse_coco_annotations(kAnnotations, "gt.json");
  const std::vector<CocoResult> results = parse_coco_results(
      R"([{"image_id": 42, "category_id": 18, "bbox": [1, 2, 3, 4], "score": 0.25},
          {"image_id": 7, "category_id": 99, "bbox": [0, 0, 0, 0], "score": 1, "extra": null}])",
      "res.json", dataset);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].image_id, 42);
  EXPECT_EQ(results[0].bbox, (CocoBox{1, 2, 3, 4}));
  EXPECT_EQ(results[0].score, 0.25);
  EXPECT_EQ(results[1].category_id, 99);  // unlisted categories are the evaluation's business
  EXPECT_TRUE(parse_coco_results("[]", "res.json", dataset).empty());

  EXPECT_EQ(results_error(R"({"image_id": 42})")
                .rfind("res.json: a results file must be a JSON array", 0),
            0u);
  EXPECT_EQ(results_error(R"([{"image_id": 3, "category_id": 1, "bbox": [0,0,1,1], "score": 1}])"),
            "res.json: results[0]: image_id 3 is not an image of the annotations (results for "
            "another dataset?)");
  EXPECT_EQ(results_error(R"([{"image_id": 42, "category_id": 1, "bbox": [0,0,1,1]}])"),
            "res.json: results[0]: has no 'score'");
  EXPECT_EQ(
      results_error(R"([{"image_id": 42, "category_id": 1, "bbox": [0,0,1,1], "score": "high"}])"),
      "res.json: results[0]: 'score' must be a number, not a string");
  EXPECT_EQ(
      results_error("[{\"image_id\": 42, \"category_id\": 1,").rfind("res.json: not valid JSON", 0),
      0u);
}

TEST(CocoData, RandomlyDamagedFilesAreErrorsOrValidNeverCrashes) {
  // Characters replaced, deleted or inserted at random in the annotations or the results: each
  // damaged pair either reads and evaluates, or is a yolo4::Error (no other exception, no crash;
  // the sanitizer build checks memory).
  const std::string results = R"([{"image_id": 42, "category_id": 18, "bbox": [1, 2, 30, 40],
    "score": 0.5}, {"image_id": 7, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}])";
  const std::string alphabet = "{}[]\",:0123456789.-eE truefalsnul";
  std::mt19937 rng(2026);
  int valid = 0, errors = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string annotations_text = kAnnotations, results_text = results;
    std::string& damaged = i % 2 ? annotations_text : results_text;
    for (int k = 0, n = 1 + int(rng() % 4); k < n && !damaged.empty(); ++k) {
      const size_t at = rng() % damaged.size();
      const char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          damaged[at] = c;
          break;
        case 1:
          damaged.erase(at, 1 + rng() % 5);
          break;
        default:
          damaged.insert(at, 1, c);
      }
    }
    try {
      const CocoDataset d = parse_coco_annotations(annotations_text, "gt.json");
      const std::vector<CocoResult> r = parse_coco_results(results_text, "res.json", d);
      evaluate_coco_bbox(d, r);
      evaluate_darknet_map(d, r);
      ++valid;
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(valid, 100);  // some damage leaves valid JSON (a digit changed, ...)
  EXPECT_GT(errors, 1000);
}

TEST(CocoData, MissingFilesAreErrorsNamingThem) {
  try {
    load_coco_annotations("/nonexistent/instances.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(
        std::string(e.what()),
        "annotations file '/nonexistent/instances.json': no such file (or not a regular file)");
  }
}

TEST(CocoData, WrittenResultsReadBackToTheSameNumbers) {
  const CocoDataset dataset = parse_coco_annotations(kAnnotations, "gt.json");
  const Detection detection{16, 0.876543219f, 10.123f, 20.5f, 110.987f, 220.25f};
  const CocoResult r = coco_result(detection, 42, 18);
  EXPECT_EQ(r.bbox, (CocoBox{10.12, 20.5, 100.86, 199.75}));  // [x, y, w, h], 1/100 pixel
  EXPECT_EQ(r.score, 0.876543);
  const std::vector<CocoResult> written = {r, {7, 1, {0.1, 1e-7, 1e6, 3}, 1.0 / 3}};
  std::ostringstream out;
  write_coco_results(out, written);
  EXPECT_NE(
      out.str().find(
          R"({"image_id": 42, "category_id": 18, "bbox": [10.12, 20.5, 100.86, 199.75], "score": 0.876543})"),
      std::string::npos)
      << out.str();
  const std::vector<CocoResult> read = parse_coco_results(out.str(), "written", dataset);
  ASSERT_EQ(read.size(), written.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].image_id, written[i].image_id);
    EXPECT_EQ(read[i].category_id, written[i].category_id);
    EXPECT_EQ(read[i].bbox, written[i].bbox);  // exactly: shortest round-trip formatting
    EXPECT_EQ(read[i].score, written[i].score);
  }
  std::ostringstream empty;
  write_coco_results(empty, {});
  EXPECT_EQ(empty.str(), "[]\n");
}

TEST(CocoCategories, EightyClassesToNinetyIds) {
  const auto ids = coco_category_ids();
  ASSERT_EQ(ids.size(), 80u);
  EXPECT_EQ(ids[0], 1);    // person
  EXPECT_EQ(ids[11], 13);  // stop sign: 12 was never annotated
  EXPECT_EQ(ids[16], 18);  // dog
  EXPECT_EQ(ids[79], 90);  // toothbrush
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i - 1], ids[i]);
  for (int c = 0; c < 80; ++c) EXPECT_EQ(coco_class_of_category(ids[c]), c);
  for (int64_t unused : {0, 12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91}) {
    EXPECT_FALSE(coco_class_of_category(unused).has_value()) << unused;
  }
}

}  // namespace
}  // namespace yolo4
