// JSON output, COCO names, drawing and the progress line.
#include <gtest/gtest.h>

#include <fstream>
#include <opencv2/core.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "detect/detect_test_util.h"
#include "yolo4/core/error.h"
#include "yolo4/output/coco_names.h"
#include "yolo4/output/draw.h"
#include "yolo4/output/json_output.h"
#include "yolo4/output/progress.h"

namespace yolo4 {
namespace {

// ---------------------------------------------------------------------------------------------
// COCO names.

TEST(CocoNames, MatchTheSharedCocoNamesFile) {
  std::ifstream in(test::shared_data_dir() + "/coco.names");
  ASSERT_TRUE(in) << "cannot open " << test::shared_data_dir() << "/coco.names";
  std::vector<std::string> expected;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) expected.push_back(line);
  }
  const auto names = coco_names();
  ASSERT_EQ(names.size(), expected.size());
  ASSERT_EQ(names.size(), static_cast<size_t>(kCocoClasses));
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(names[i], expected[i]) << "class " << i;
}

TEST(CocoNames, ClassNameFallsBackForUnknownIds) {
  EXPECT_EQ(class_name(coco_names(), 16), "dog");
  EXPECT_EQ(class_name(coco_names(), 80), "class80");
  EXPECT_EQ(class_name(coco_names(), -1), "class-1");
}

// ---------------------------------------------------------------------------------------------
// JSON.

TEST(Json, EscapesStrings) {
  EXPECT_EQ(json_string("plain.jpg"), "\"plain.jpg\"");
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string("tab\there\nnew\rline\b\f"), "\"tab\\there\\nnew\\rline\\b\\f\"");
  EXPECT_EQ(json_string(std::string("nul\0bell\x07", 9)), "\"nul\\u0000bell\\u0007\"");
  EXPECT_EQ(json_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb6"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb6\"");      // valid UTF-8 passes through
  EXPECT_EQ(json_string("bad\xff\xc3"), "\"bad\\ufffd\\ufffd\"");  // invalid byte, cut sequence
  EXPECT_EQ(json_string("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // UTF-16 surrogate
  EXPECT_EQ(json_string("\xc0\xaf"), "\"\\ufffd\\ufffd\"");             // overlong '/'
}

TEST(Json, FormatsNumbersStably) {
  EXPECT_EQ(json_number(0.3f, 5), "0.30000");
  EXPECT_EQ(json_number(123.456f, 2), "123.46");
  EXPECT_EQ(json_number(-0.0f, 2), "0.00");
  EXPECT_EQ(json_number(-0.001f, 2), "0.00");
  EXPECT_EQ(json_number(-1.5f, 1), "-1.5");
  EXPECT_EQ(json_number(std::numeric_limits<float>::quiet_NaN(), 2), "null");
  EXPECT_EQ(json_number(std::numeric_limits<float>::infinity(), 2), "null");
}

TEST(Json, WritesOneObjectPerImageOrFrame) {
  std::vector<ImageResult> results(2);
  results[0].image = "images/dog \"1\".jpg";
  results[0].width = 768;
  results[0].height = 576;
  results[0].detections = {{16, 0.98765f, 1, 2.5f, 300.125f, 400}, {1, 0.5f, 0, 0, 10, 10}};
  results[1].image = "clip.mp4";
  results[1].frame = 42;
  results[1].width = 320;
  results[1].height = 240;
  std::ostringstream out;
  write_json(out, results);
  EXPECT_EQ(out.str(),
            "[\n"
            "  {\"image\": \"images/dog \\\"1\\\".jpg\", \"width\": 768, \"height\": 576, "
            "\"detections\": [\n"
            "    {\"class_id\": 16, \"class\": \"dog\", \"score\": 0.98765, "
            "\"box\": [1.00, 2.50, 300.12, 400.00]},\n"
            "    {\"class_id\": 1, \"class\": \"bicycle\", \"score\": 0.50000, "
            "\"box\": [0.00, 0.00, 10.00, 10.00]}\n"
            "  ]},\n"
            "  {\"image\": \"clip.mp4\", \"frame\": 42, \"width\": 320, \"height\": 240, "
            "\"detections\": []}\n"
            "]\n");
}

TEST(Json, EmptyListAndStreamingClose) {
  std::ostringstream empty;
  write_json(empty, {});
  EXPECT_EQ(empty.str(), "[]\n");
  std::ostringstream streamed;
  {
    JsonListWriter writer(streamed);
    ImageResult frame;
    frame.image = "v.mp4";
    frame.frame = 0;
    writer.write(frame);
  }  // the destructor closes the list
  EXPECT_EQ(streamed.str(),
            "[\n  {\"image\": \"v.mp4\", \"frame\": 0, \"width\": 0, \"height\": 0, "
            "\"detections\": []}\n]\n");
}

TEST(Json, OutputParsesWithPython) {
  std::vector<ImageResult> results(1);
  results[0].image = "d\xc3\xa9j\xc3\xa0 vu\t\"q\"\\\x01\xff.jpg";
  results[0].width = 10;
  results[0].height = 10;
  results[0].detections = {{79, 0.25f, 1, 2, 3, 4}};
  const test::TempDir dir;
  const std::string path = dir.file("out.json");
  {
    std::ofstream out(path);
    write_json(out, results);
  }
  const std::string script =
      "import json,sys; d=json.load(open(sys.argv[1])); "
      "assert d[0]['image']=='d\\u00e9j\\u00e0 vu\\t\"q\"\\\\\\x01\\ufffd.jpg', d; "
      "assert d[0]['detections'][0]['class']=='toothbrush'; "
      "assert d[0]['detections'][0]['box']==[1,2,3,4]";
  const std::string command = "/usr/bin/python3 -c " + test::shell_quote(script) + " " +
                              test::shell_quote(path) + " > " + test::shell_quote(dir.file("log")) +
                              " 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << test::read_bytes(dir.file("log"));
}

// ---------------------------------------------------------------------------------------------
// Drawing.

TEST(Draw, ColoursAreFixedPerClassAndDistinct) {
  EXPECT_EQ(class_color(3), class_color(3));
  for (int c = 0; c + 1 < kCocoClasses; ++c) EXPECT_NE(class_color(c), class_color(c + 1)) << c;
}

TEST(Draw, DrawsBoxesAndLabels) {
  cv::Mat image(240, 320, CV_8UC3, cv::Scalar(30, 30, 30));
  const cv::Mat before = image.clone();
  const std::vector<Detection> dets = {{16, 0.9f, 40, 60, 200, 220}, {0, 0.5f, 0, 0, 319, 239}};
  draw_detections(image, dets);
  EXPECT_EQ(image.size(), before.size());
  cv::Mat diff;
  cv::absdiff(image, before, diff);
  const int changed = cv::countNonZero(diff.reshape(1));
  EXPECT_GT(changed, 1000);
  // The dog box's left edge carries the class colour; the box inside is untouched.
  const cv::Scalar dog = class_color(16);
  const cv::Vec3b edge = image.at<cv::Vec3b>(150, 40);
  EXPECT_EQ(edge, cv::Vec3b(static_cast<uchar>(dog[0]), static_cast<uchar>(dog[1]),
                            static_cast<uchar>(dog[2])));
  EXPECT_EQ(image.at<cv::Vec3b>(150, 120), cv::Vec3b(30, 30, 30));
  // Label background above the dog box.
  EXPECT_NE(image.at<cv::Vec3b>(55, 45), cv::Vec3b(30, 30, 30));
}

TEST(Draw, RejectsNonBgrImages) {
  cv::Mat gray(10, 10, CV_8UC1);
  EXPECT_THROW(draw_detections(gray, {}), Error);
  cv::Mat empty;
  EXPECT_THROW(draw_detections(empty, {}), Error);
}

// ---------------------------------------------------------------------------------------------
// Progress.

TEST(Progress, FormatsCountsRatesAndEta) {
  EXPECT_EQ(format_count_progress(50, 100, 4.0, "images/s", 10),
            "[#####.....]  50/100  12.5 images/s  ETA 0:04");
  EXPECT_EQ(format_count_progress(30, 0, 1.0, "FPS", 10), "30  30.0 FPS");
  EXPECT_EQ(format_byte_progress(64000000, 256000000, 10.0, 4),
            "[#...]  64.0/256.0 MB  25.0%  6.4 MB/s  ETA 0:30");
  EXPECT_EQ(format_count_progress(1, 10000, 1.0, "images/s", 0),
            "1/10000  1.0 images/s  ETA 2:46:39");
}

ProgressOptions to_stream(std::ostream& out, ProgressMode mode, const std::string& label = "") {
  ProgressOptions options;
  options.out = &out;
  options.mode = mode;
  options.label = label;
  return options;
}

TEST(Progress, QuietUnlessAskedOrATerminal) {
  std::ostringstream out;
  {
    ProgressBar bar(10, to_stream(out, ProgressMode::kNever));
    EXPECT_FALSE(bar.enabled());
    bar.advance(5);
  }
  EXPECT_EQ(out.str(), "");
  {
    ProgressBar bar(10, to_stream(out, ProgressMode::kAlways, "detect"));
    bar.advance(10);
    bar.finish();
  }
  EXPECT_NE(out.str().find("detect [##"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("10/10"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().back(), '\n');
  // kAuto follows isatty(stderr); under CTest stderr is a pipe.
  ProgressBar automatic(10, to_stream(out, ProgressMode::kAuto));
  EXPECT_EQ(automatic.enabled(), stderr_is_terminal());
}

}  // namespace
}  // namespace yolo4
