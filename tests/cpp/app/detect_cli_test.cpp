// yolo4 detect as a user runs it: outputs (annotated copies, JSON file and stdout, summary), bad
// inputs, videos, the weights download failing, and flag checking. Small network sizes keep
// these fast; the comparison with the Python pipeline is in detect_reference_test.cpp.
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "app_test_util.h"

namespace yolo4::app_test {
namespace {

// detect with the random checkpoint at a small size (the boxes are meaningless, but there are
// some: the checkpoint is calibrated to give boxes on the sample images).
std::vector<std::string> detect_args(const std::vector<std::string>& extra, int size = 160) {
  std::vector<std::string> args = {"detect", "--weights", random_checkpoint(), "--size",
                                   std::to_string(size)};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The stderr line that names `input`, or "" when there is none.
std::string line_naming(const std::string& text, const std::string& input) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (contains(line, input)) return line;
  }
  return "";
}

// A PNG whose header says 20000x20000 (the pixels are never there).
std::string huge_png_header() {
  auto be32 = [](uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    const std::string body = type + data;
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()));
    return be32(uint32_t(data.size())) + body + be32(uint32_t(crc));
  };
  const std::string ihdr = be32(20000) + be32(20000) + std::string{8, 2, 0, 0, 0};
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IEND", "");
}

TEST(DetectOutputs, AnnotatedCopyAndJsonFile) {
  REQUIRE_CHECKPOINT();
  TempDir dir;
  // A lossless input, so that every changed pixel of the copy was drawn.
  const cv::Mat original = cv::imread(sample_image("dog.jpg"));
  ASSERT_TRUE(cv::imwrite(dir / "dog.png", original));
  const RunResult r =
      run_yolo4(detect_args({"--out", "annotated/new", "--json", "det.json", "dog.png"}, 320), dir);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(r.out.empty()) << "nothing on stdout with --json FILE and --out: " << r.out;

  const std::vector<ImageEntry> entries = read_detect_json(dir / "det.json", dir);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].image, "dog.png");
  EXPECT_EQ(entries[0].width, original.cols);
  EXPECT_EQ(entries[0].height, original.rows);
  // The checkpoint is tuned at 320, where it gives dog 83 boxes (at 160 it gives none).
  ASSERT_FALSE(entries[0].boxes.empty()) << "the random checkpoint gives boxes on dog at 320";

  const cv::Mat annotated = cv::imread(dir / "annotated/new/dog.png");
  ASSERT_FALSE(annotated.empty()) << "no annotated copy in --out (created with its parents)";
  ASSERT_EQ(annotated.size(), original.size());
  cv::Mat diff;
  cv::absdiff(annotated, original, diff);
  const int changed = cv::countNonZero(diff.reshape(1));
  EXPECT_GT(changed, 1000) << "the annotated copy should show boxes and labels";
  // The left edge of the best box is drawn (or covered by a label): it changed.
  const Box& best = entries[0].boxes[0];
  const cv::Point edge(int(std::lround(best.x1)), int(std::lround((best.y1 + best.y2) / 2)));
  EXPECT_NE(cv::norm(annotated.at<cv::Vec3b>(edge), original.at<cv::Vec3b>(edge)), 0)
      << "at " << edge;
  EXPECT_TRUE(fs::exists(sample_image("dog.jpg")));  // inputs are never touched
}

TEST(DetectOutputs, NeverOverwritesAnInput) {
  REQUIRE_CHECKPOINT();
  TempDir dir;
  fs::create_directory(dir / "b");
  fs::copy_file(sample_image("dog.jpg"), dir / "dog.jpg");
  fs::copy_file(sample_image("eagle.jpg"), dir / "b/dog.jpg");
  const std::string before = read_file(dir / "dog.jpg");
  const RunResult r = run_yolo4(detect_args({"--out", ".", "dog.jpg", "b/dog.jpg"}, 64), dir);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(read_file(dir / "dog.jpg"), before) << "the input was overwritten";
  EXPECT_FALSE(cv::imread(dir / "dog-1.jpg").empty()) << r.err;
  EXPECT_EQ(cv::imread(dir / "dog-2.jpg").size(), cv::imread(sample_image("eagle.jpg")).size());
  EXPECT_TRUE(contains(line_naming(r.err, "b/dog.jpg"), "dog-2.jpg")) << r.err;
}

TEST(DetectOutputs, JsonDashGoesToStdout) {
  REQUIRE_CHECKPOINT();
  TempDir dir;
  const RunResult r = run_yolo4(
      detect_args({"--json", "-", sample_image("dog.jpg"), sample_image("eagle.jpg")}), dir);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  write_file(dir / "stdout.json", r.out);
  const std::vector<ImageEntry> entries = read_detect_json(dir / "stdout.json", dir);
  ASSERT_EQ(entries.size(), 2u) << "stdout must be exactly the JSON list: " << r.out;
  EXPECT_EQ(entries[0].image, sample_image("dog.jpg"));
  EXPECT_EQ(entries[1].image, sample_image("eagle.jpg"));
  EXPECT_FALSE(contains(r.err, "\"detections\"")) << "JSON on stderr: " << r.err;
}

TEST(DetectOutputs, SummaryWithoutJsonOrOut) {
  REQUIRE_CHECKPOINT();
  TempDir dir;
  const RunResult r = run_yolo4(detect_args({sample_image("dog.jpg")}, 320), dir);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, sample_image("dog.jpg") + " (768x576): ")) << r.out;
  EXPECT_TRUE(contains(r.out, "box x1=")) << r.out;
  EXPECT_FALSE(contains(r.out, "{")) << "no JSON without --json: " << r.out;
}

TEST(DetectBadInputs, EachIsNamedAndTheGoodOnesStillRun) {
  REQUIRE_CHECKPOINT();
  TempDir dir;
  const std::string jpeg = read_file(sample_image("dog.jpg"));
  write_file(dir / "truncated.jpg", jpeg.substr(0, jpeg.size() / 3));
  write_file(dir / "empty.jpg", "");
  write_file(dir / "notes.txt", "not an image\n");
  write_file(dir / "huge.png", huge_png_header());
  fs::create_directory(dir / "mixed");
  fs::copy_file(sample_image("eagle.jpg"), dir / "mixed/eagle.jpg");
  write_file(dir / "mixed/broken.jpg", "text in a .jpg\n");
  write_file(dir / "mixed/readme.txt", "a note\n");
  const std::vector<std::string> bad = {"truncated.jpg", "empty.jpg",   "notes.txt",
                                        "huge.png",      "missing.jpg", "mixed/broken.jpg"};
  const auto start = std::chrono::steady_clock::now();
  const RunResult r =
      run_yolo4(detect_args({"--json", "out.json", "truncated.jpg", "empty.jpg", "notes.txt",
                             sample_image("dog.jpg"), "huge.png", "missing.jpg", "mixed"}),
                dir);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  for (const std::string& input : bad) {
    const std::string line = line_naming(r.err, input);
    EXPECT_FALSE(line.empty()) << "no message names " << input << ":\n" << r.err;
    std::printf("  %s\n", line.c_str());
  }
  // The non-image in the directory is skipped with a note, the image in it is processed.
  EXPECT_TRUE(contains(line_naming(r.err, "mixed/readme.txt"), "not an image")) << r.err;
  EXPECT_TRUE(contains(line_naming(r.err, "truncated.jpg"), "truncated")) << r.err;
  EXPECT_TRUE(contains(line_naming(r.err, "empty.jpg"), "empty")) << r.err;
  EXPECT_TRUE(contains(line_naming(r.err, "huge.png"), "20000x20000")) << r.err;
  EXPECT_TRUE(contains(line_naming(r.err, "missing.jpg"), "no such file")) << r.err;
  EXPECT_LT(seconds, 120) << "a 20000x20000 header must be refused, not decoded";

  const std::vector<ImageEntry> entries = read_detect_json(dir / "out.json", dir);
  ASSERT_EQ(entries.size(), 2u) << "the good inputs are still processed";
  EXPECT_EQ(entries[0].image, sample_image("dog.jpg"));
  EXPECT_EQ(entries[1].image, "mixed/eagle.jpg");
}

TEST(DetectBadInputs, DirectoryNotesItsNonImagesButSucceeds) {
  REQUIRE_CHECKPOINT();
  TempDir dir;
  fs::create_directory(dir / "photos");
  fs::copy_file(sample_image("kite.jpg"), dir / "photos/b.jpg");
  fs::copy_file(sample_image("eagle.jpg"), dir / "photos/a.JPG");
  write_file(dir / "photos/readme.txt", "a note\n");
  const RunResult r = run_yolo4(detect_args({"--json", "out.json", "photos"}, 64), dir);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(line_naming(r.err, "photos/readme.txt"), "skipping")) << r.err;
  const std::vector<ImageEntry> entries = read_detect_json(dir / "out.json", dir);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].image, "photos/a.JPG");  // sorted by name
  EXPECT_EQ(entries[1].image, "photos/b.jpg");
}

TEST(DetectBadInputs, NothingUsableFailsBeforeLoadingWeights) {
  TempDir dir;
  // The weights are never looked at: no input survives the expansion.
  const RunResult r = run_yolo4({"detect", "--weights", "no-such.pth", "missing.jpg"}, dir);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(r.err, "missing.jpg")) << r.err;
  EXPECT_FALSE(contains(r.err, "no-such.pth")) << r.err;
}

TEST(DetectWeights, AutoWithoutNetworkFailsFastSayingWhereToPutTheFile) {
  TempDir dir;
  fs::create_directory(dir / "cache");
  const std::string env = "XDG_CACHE_HOME=" + quote(dir / "cache") +
                          " YOLO4_WEIGHTS_URL=http://127.0.0.1:9/yolov4.weights";
  const auto start = std::chrono::steady_clock::now();
  const RunResult r = run_yolo4({"detect", "--weights", "auto", sample_image("dog.jpg")}, dir, env);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.exit_code, 3) << "exit code 3: the weights could not be downloaded";
  const std::string target = dir / "cache/yolo4/yolov4.weights";
  EXPECT_TRUE(contains(r.err, "~258 MB")) << "says first what is downloaded: " << r.err;
  EXPECT_TRUE(contains(r.err, "127.0.0.1:9")) << "names the URL that failed: " << r.err;
  EXPECT_TRUE(contains(r.err, "place it at " + target)) << "how to place it by hand: " << r.err;
  EXPECT_LT(seconds, 30) << "a refused connection must fail fast";
  EXPECT_FALSE(fs::exists(target));
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(DetectVideo, EveryFrameToJsonAndAnAnnotatedVideo) {
  REQUIRE_CHECKPOINT();
  TempDir dir;
  cv::Mat frame;
  cv::resize(cv::imread(sample_image("dog.jpg")), frame, {192, 144});
  {
    cv::VideoWriter writer(dir / "clip.avi", cv::CAP_FFMPEG,
                           cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 7.0, frame.size());
    ASSERT_TRUE(writer.isOpened()) << "this OpenCV cannot write MJPG .avi";
    for (int i = 0; i < 5; ++i) {
      cv::Mat shifted = frame.clone();
      shifted.colRange(0, 8 * (i + 1)).setTo(cv::Scalar(40 * i, 80, 160));
      writer.write(shifted);
    }
  }
  write_file(dir / "broken.mp4", "not a video\n");
  const RunResult r = run_yolo4(
      detect_args({"--json", "v.json", "--out", "vout", "clip.avi", "broken.mp4"}, 96), dir);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_TRUE(contains(line_naming(r.err, "broken.mp4"), "cannot open")) << r.err;

  const std::vector<ImageEntry> entries = read_detect_json(dir / "v.json", dir);
  ASSERT_EQ(entries.size(), 5u) << "one JSON object per frame";
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(entries[i].image, "clip.avi");
    ASSERT_TRUE(entries[i].frame.has_value());
    EXPECT_EQ(*entries[i].frame, i);
    EXPECT_EQ(entries[i].width, 192);
    EXPECT_EQ(entries[i].height, 144);
  }
  cv::VideoCapture annotated(dir / "vout/clip.avi", cv::CAP_FFMPEG);
  ASSERT_TRUE(annotated.isOpened()) << "no annotated video in --out";
  EXPECT_DOUBLE_EQ(annotated.get(cv::CAP_PROP_FPS), 7.0);
  int frames = 0;
  for (cv::Mat f; annotated.read(f) && !f.empty(); ++frames) EXPECT_EQ(f.size(), frame.size());
  EXPECT_EQ(frames, 5);
}

TEST(DetectFlags, HelpUnknownFlagsAndBadValues) {
  TempDir dir;
  const RunResult help = run_yolo4({"detect", "--help"}, dir);
  EXPECT_EQ(help.exit_code, 0) << describe(help);
  for (const char* flag :
       {"--weights", "--json", "--out", "--letterbox", "--nms-kind", "~258 MB"}) {
    EXPECT_TRUE(contains(help.out, flag)) << flag << " missing from --help:\n" << help.out;
  }
  const std::vector<std::vector<std::string>> bad = {
      {"--frobnicate"},       {"--conf", "1.5"}, {"--conf", "abc"},
      {"--nms-kind", "soft"}, {"--size", "100"}, {"--max-det", "-1"},
      {"--weights", ""},      {"--json"},        {}};
  for (const auto& extra : bad) {
    std::vector<std::string> args = {"detect"};
    args.insert(args.end(), extra.begin(), extra.end());
    if (!extra.empty()) args.push_back(sample_image("dog.jpg"));
    const RunResult r = run_yolo4(args, dir);
    std::string shown;
    for (const std::string& a : extra) shown += a + " ";
    EXPECT_NE(r.exit_code, 0) << shown << describe(r);
    EXPECT_FALSE(r.err.empty()) << shown << ": no message";
    EXPECT_TRUE(r.out.empty()) << shown << ": " << r.out;
  }
}

// Models by name and your own darknet model.

std::string trained(const std::string& file) {
  return shared_data_dir() + "/models/" + file;
}

TEST(DetectModels, YourOwnCfgWeightsAndNames) {
  TempDir dir;
  write_file(dir / "people.names", "someone\n");
  const RunResult r = run_yolo4({"detect", "--cfg", trained("yolo-fastest-1.1_body.cfg"),
                                 "--weights", trained("yolo-fastest-1.1_body.weights"), "--names",
                                 "people.names", "--json", "-", sample_image("person.jpg")},
                                dir);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "\"class\": \"someone\"")) << r.out;
}

TEST(DetectModels, NamedModelWithItsWeightsFile) {
  TempDir dir;
  const RunResult r = run_yolo4({"detect", "--model", "yolo-fastest-1.1-xl", "--weights",
                                 trained("yolo-fastest-1.1-xl.weights"), sample_image("dog.jpg")},
                                dir);
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  for (const char* name : {"dog", "bicycle", "car"}) EXPECT_TRUE(contains(r.out, name)) << r.out;
}

TEST(DetectModels, AutoWeightsOfANamedModelSayWhatTheyDownload) {
  TempDir dir;
  fs::create_directory(dir / "cache");
  // No network here, and no cached file: the download fails, naming the model's file.
  const RunResult r = run_yolo4(
      {"detect", "--model", "yolov4-tiny", "--weights", "auto", sample_image("dog.jpg")}, dir,
      "XDG_CACHE_HOME=" + quote(dir / "cache") +
          " http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9");
  EXPECT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_TRUE(contains(r.err, "yolov4-tiny.weights, ~24 MB")) << r.err;
  EXPECT_TRUE(contains(r.err, "cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87"))
      << "the expected SHA-256, for placing the file by hand: " << r.err;
}

TEST(DetectModels, ClearErrorsForModelFlags) {
  TempDir dir;
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--model", "yolov9"}, "unknown model 'yolov9': expected one of yolov4, yolov4-tiny"},
      {{"--model", "yolov4-tiny", "--cfg", trained("yolo-fastest-1.1.cfg"), "--weights",
        trained("yolo-fastest-1.1.weights")},
       "not both"},
      {{"--cfg", trained("yolo-fastest-1.1.cfg")}, "needs --weights FILE"},
      {{"--cfg", trained("yolo-fastest-1.1.cfg"), "--weights",
        trained("yolo-fastest-1.1-xl.weights")},
       "yolo-fastest-1.1-xl.weights"},
      {{"--cfg", trained("yolo-fastest-1.1.cfg"), "--weights", trained("yolo-fastest-1.1.weights"),
        "--names", trained("body.names")},
       "1 class names, but the model has 80 classes"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"detect"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    args.push_back(sample_image("dog.jpg"));
    const RunResult r = run_yolo4(args, dir);
    EXPECT_NE(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(contains(r.err, c.message)) << c.message << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one clear line:\n" << r.err;
  }
}

}  // namespace
}  // namespace yolo4::app_test
