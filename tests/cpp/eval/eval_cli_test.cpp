// yolo4 eval on the command line: scoring a results file, its errors and outputs.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/app_test_util.h"

namespace yolo4 {
namespace {

using app_test::describe;
using app_test::read_file;
using app_test::run_yolo4;
using app_test::TempDir;
using app_test::write_file;

// The HandComputedAp case of coco_eval_test.cpp: AP = 56/101 = 0.554 at every IoU, AR 2/3.
constexpr const char* kAnnotations = R"({"images": [{"id": 1}, {"id": 2}],
  "categories": [{"id": 5, "name": "thing"}],
  "annotations": [
    {"id": 1, "image_id": 1, "category_id": 5, "bbox": [0, 0, 100, 100], "area": 10000},
    {"id": 2, "image_id": 1, "category_id": 5, "bbox": [300, 0, 100, 100], "area": 10000},
    {"id": 3, "image_id": 2, "category_id": 5, "bbox": [0, 0, 100, 100], "area": 10000}]})";
constexpr const char* kResults = R"([
  {"image_id": 1, "category_id": 5, "bbox": [0, 0, 100, 100], "score": 0.9},
  {"image_id": 2, "category_id": 5, "bbox": [300, 300, 100, 100], "score": 0.8},
  {"image_id": 2, "category_id": 5, "bbox": [0, 0, 100, 100], "score": 0.7},
  {"image_id": 1, "category_id": 5, "bbox": [0, 0, 100, 80], "score": 0.6}])";

class EvalCli : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_ / "gt.json", kAnnotations);
    write_file(dir_ / "res.json", kResults);
  }
  TempDir dir_;
};

TEST_F(EvalCli, HelpListsTheFlags) {
  const auto r = run_yolo4({"eval", "--help"}, dir_);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  for (const char* flag : {"--annotations", "--results", "--images", "--limit", "--metric",
                           "--stats", "--size", "--letterbox", "--weights"}) {
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag << "\n" << r.out;
  }
}

TEST_F(EvalCli, ScoresAResultsFile) {
  const auto r = run_yolo4(
      {"eval", "--annotations", "gt.json", "--results", "res.json", "--stats", "stats.json"}, dir_);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out.substr(0, r.out.find('\n') + 1),
            " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.554\n");
  EXPECT_NE(
      r.out.find(
          " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.667\n"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("gt.json: 2 images, 3 annotations, 1 categories"), std::string::npos)
      << r.err;
  // Full precision in --stats: 56/101 = 0.55445544554455...
  const std::string stats = read_file(dir_ / "stats.json");
  for (const std::string key : {"\"AP\": ", "\"AP50\": ", "\"name\": \"thing\", \"ap\": "}) {
    const size_t at = stats.find(key);
    ASSERT_NE(at, std::string::npos) << key << "\n" << stats;
    EXPECT_NEAR(std::stod(stats.substr(at + key.size())), 56.0 / 101, 1e-12) << key;
  }
}

TEST_F(EvalCli, DarknetMetricIsNamedAsSuch) {
  // darknet: TP FP TP FP at recall 1/3 1/3 2/3 2/3 -> 1/3 * 1 + 1/3 * 2/3 = 5/9 = 55.56 %.
  const auto r = run_yolo4(
      {"eval", "--annotations", "gt.json", "--results", "res.json", "--metric", "darknet"}, dir_);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("class_id = 5, name = thing, ap = 55.56%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("darknet mean average precision (mAP@0.50, detector map) = 0.555556"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("Average Precision  (AP)"), std::string::npos);
}

TEST_F(EvalCli, LimitEvaluatesTheFirstImages) {
  // Image 1 only: TP (0.9), FP (0.6); 2 objects: precision 1 at recall 1/2 -> 51/101 = 0.505.
  const auto r = run_yolo4(
      {"eval", "--annotations", "gt.json", "--results", "res.json", "--limit", "1"}, dir_);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out.substr(0, r.out.find('\n') + 1),
            " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.505\n");
}

TEST_F(EvalCli, ErrorsNameTheProblem) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  write_file(dir_ / "broken.json", "{\"images\": [");
  write_file(dir_ / "other.json",
             R"([{"image_id": 9, "category_id": 5, "bbox": [0,0,1,1], "score": 1}])");
  const std::vector<Case> cases = {
      {{"eval", "--results", "res.json"}, "--annotations FILE is required"},
      {{"eval", "--annotations", "gt.json"}, "give --results FILE to score, or --images DIR"},
      {{"eval", "--annotations", "gt.json", "--results", "res.json", "--metric", "voc"},
       "--metric 'voc': expected coco or darknet"},
      {{"eval", "--annotations", "missing.json", "--results", "res.json"},
       "annotations file 'missing.json': no such file"},
      {{"eval", "--annotations", "broken.json", "--results", "res.json"},
       "broken.json: not valid JSON"},
      {{"eval", "--annotations", "gt.json", "--results", "other.json"},
       "other.json: results[0]: image_id 9 is not an image of the annotations"},
  };
  for (const Case& c : cases) {
    const auto r = run_yolo4(c.args, dir_);
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_NE(r.err.find("yolo4 eval: error: " + c.message), std::string::npos)
        << "expected: " << c.message << "\n"
        << describe(r);
  }
}

// Model mode with the trained Yolo-Fastest-XL from ../shared/data (small and fast); the accuracy
// end to end is checked in tests/python/test_coco_eval.py (ModelMode).
TEST_F(EvalCli, ModelModeErrorsNameTheImage) {
  const std::string models = app_test::shared_data_dir() + "/models/yolo-fastest-1.1-xl";
  const std::string images = app_test::shared_data_dir() + "/images";
  auto annotations = [](const std::string& image) {
    return R"({"images": [)" + image + R"(], "categories": [{"id": 18, "name": "dog"}],
               "annotations": []})";
  };
  write_file(dir_ / "missing.json", annotations(R"({"id": 3, "file_name": "missing.jpg"})"));
  write_file(dir_ / "size.json",
             annotations(R"({"id": 4, "file_name": "dog.jpg", "width": 640, "height": 576})"));
  write_file(dir_ / "noname.json", annotations(R"({"id": 5})"));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"missing.json", "image " + images + "/missing.jpg (id 3): cannot read it"},
      {"size.json", "image " + images + "/dog.jpg (id 4) is 768x576 but size.json says 640x576"},
      {"noname.json", "noname.json: image 5 has no 'file_name' (needed with --images)"},
  };
  for (const auto& [file, message] : cases) {
    const auto r = run_yolo4({"eval", "--annotations", file, "--images", images, "--cfg",
                              models + ".cfg", "--weights", models + ".weights", "--quiet"},
                             dir_);
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_NE(r.err.find("yolo4 eval: error: " + message), std::string::npos)
        << "expected: " << message << "\n"
        << describe(r);
  }
}

}  // namespace
}  // namespace yolo4
