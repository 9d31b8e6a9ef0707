// Head decoding and NMS: unit cases, strided views, and box-for-box agreement with the numpy
// reference (tests/python/postprocess_ref.py) on random heads and on the checkpoint's test data.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "detect/detect_test_util.h"
#include "yolo4/core/error.h"
#include "yolo4/io/image_input.h"
#include "yolo4/loaders/darknet_cfg.h"
#include "yolo4/loaders/npy.h"
#include "yolo4/postprocess/nms.h"
#include "yolo4/postprocess/yolo_decode.h"

namespace yolo4 {
namespace {

constexpr int kChannels = 255;  // 3 anchors x (5 + 80)

float logit(float p) {
  return std::log(p / (1 - p));
}

// A (255, H, W) head with the statistics the calibrated random checkpoint aims for: box offsets
// N(0, 1), sizes N(0, 0.5), objectness N(-4, 2) (a few hundred candidates), classes N(-3, 1.5);
// classes 0-4 get N(-1, 1.5) so that best-class boxes share classes and NMS has work to do.
std::vector<float> random_head(int height, int width, std::mt19937& rng) {
  std::normal_distribution<float> xy(0, 1), wh(0, 0.5f), obj(-4, 2), common(-1, 1.5f),
      rare(-3, 1.5f);
  const size_t plane = static_cast<size_t>(height) * width;
  std::vector<float> head(kChannels * plane);
  for (int c = 0; c < kChannels; ++c) {
    const int field = c % 85;
    auto& dist = field < 2 ? xy : field < 4 ? wh : field == 4 ? obj : field < 10 ? common : rare;
    for (size_t i = 0; i < plane; ++i) head[static_cast<size_t>(c) * plane + i] = dist(rng);
  }
  return head;
}

struct RandomHeads {
  int net = 320;
  std::array<std::vector<float>, 3> data;

  explicit RandomHeads(uint32_t seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 3; ++i) data[i] = random_head(grid(i), grid(i), rng);
  }
  int stride(int i) const { return 8 << i; }
  int grid(int i) const { return net / stride(i); }
  std::vector<HeadView> views() const {
    std::vector<HeadView> views;
    for (int i = 0; i < 3; ++i)
      views.push_back(nchw_head(data[i].data(), grid(i), grid(i), stride(i)));
    return views;
  }
  std::vector<std::string> save(const test::TempDir& dir) const {
    std::vector<std::string> paths;
    for (int i = 0; i < 3; ++i) {
      paths.push_back(dir.file("head" + std::to_string(stride(i)) + ".npy"));
      const std::array<int64_t, 4> shape = {1, kChannels, grid(i), grid(i)};
      write_npy(paths.back(), data[i].data(), shape);
    }
    return paths;
  }
};

// ---------------------------------------------------------------------------------------------
// Decoding, by hand.

// One anchor set in an otherwise silent head (objectness -20 everywhere else).
struct OneAnchorHead {
  std::vector<float> data;
  int grid;
  OneAnchorHead(int grid_size, int gx, int gy, int anchor, std::array<float, 5> box, int cls,
                float cls_logit)
      : data(size_t{kChannels} * grid_size * grid_size, -20.0f), grid(grid_size) {
    auto at = [&](int field) -> float& {
      return data[(size_t{85} * anchor + field) * grid * grid + static_cast<size_t>(gy) * grid +
                  gx];
    };
    for (int f = 0; f < 5; ++f) at(f) = box[f];
    at(5 + cls) = cls_logit;
  }
};

TEST(YoloDecode, DecodesOneBoxInImagePixels) {
  // Cell (3, 2) of the stride-32 grid of a 320 network, anchor 1 (192 x 243), centred offsets.
  OneAnchorHead head(10, 3, 2, 1, {0, 0, 0, 0, logit(0.9f)}, 16, logit(0.8f));
  const auto layers = default_yolo_layers();
  const HeadView view = nchw_head(head.data.data(), 10, 10, 32);
  // Plain resize of a 640 x 480 image: x scale 0.5, y scale 2/3.
  const ImageTransform t = make_image_transform(640, 480, 320, 320, ResizeMode::kPlain);
  const auto dets = decode_yolo(std::span(&view, 1), std::span(&layers[2], 1), t, {});
  ASSERT_EQ(dets.size(), 1u);
  EXPECT_EQ(dets[0].class_id, 16);
  EXPECT_NEAR(dets[0].score, 0.72f, 1e-5);
  // Centre (3.5 * 32, 2.5 * 32) = (112, 80) network px -> (224, 120) image px.
  EXPECT_NEAR(dets[0].x1, 224 - 192, 1e-3);
  EXPECT_NEAR(dets[0].x2, 224 + 192, 1e-3);
  EXPECT_NEAR(dets[0].y1, 0, 1e-3);  // 120 - 182.25 clipped
  EXPECT_NEAR(dets[0].y2, 120 + 243 * 0.75f, 1e-3);
}

TEST(YoloDecode, ScaleXyWidensTheCentreRange) {
  // sigmoid(tx) = 1 with scale 1.2 puts the centre 0.1 cell past the cell border.
  OneAnchorHead head(10, 5, 0, 0, {30, -30, 0, 0, logit(0.9f)}, 0, logit(0.9f));
  auto layers = default_yolo_layers();
  layers[2].scale_xy = 1.2f;
  const HeadView view = nchw_head(head.data.data(), 10, 10, 32);
  const ImageTransform t = make_image_transform(320, 320, 320, 320, ResizeMode::kPlain);
  const auto dets = decode_yolo(std::span(&view, 1), std::span(&layers[2], 1), t, {});
  ASSERT_EQ(dets.size(), 1u);
  // x: sigmoid 1 -> 1.2 - 0.1 + 5 = 6.1 cells; 142 wide, so not clipped.
  EXPECT_NEAR(0.5f * (dets[0].x1 + dets[0].x2), 6.1f * 32, 1e-3);
  // y: sigmoid 0 -> -0.1 cells = -3.2 px; 110 high, clipped at the top.
  EXPECT_NEAR(dets[0].y1, 0, 1e-3);
  EXPECT_NEAR(dets[0].y2, -3.2f + 55, 1e-3);
}

TEST(YoloDecode, UndoesTheLetterbox) {
  // 640 x 320 image in a 320 network: content 320 x 160 at y offset 80, scale 0.5.
  OneAnchorHead head(10, 5, 5, 0, {0, 0, 0, 0, logit(0.9f)}, 3, logit(0.9f));
  const auto layers = default_yolo_layers();
  const HeadView view = nchw_head(head.data.data(), 10, 10, 32);
  const ImageTransform t = make_image_transform(640, 320, 320, 320, ResizeMode::kLetterbox);
  EXPECT_FLOAT_EQ(t.offset_y, 80);
  EXPECT_FLOAT_EQ(t.scale_x, 0.5f);
  const auto dets = decode_yolo(std::span(&view, 1), std::span(&layers[2], 1), t, {});
  ASSERT_EQ(dets.size(), 1u);
  // Centre (176, 176) network px -> (352, 192) image px; anchor 142 x 110 -> 284 x 220.
  EXPECT_NEAR(dets[0].x1, 352 - 142, 1e-3);
  EXPECT_NEAR(dets[0].y1, 192 - 110, 1e-3);
  EXPECT_NEAR(dets[0].x2, 352 + 142, 1e-3);
  EXPECT_NEAR(dets[0].y2, 192 + 110, 1e-3);
}

TEST(YoloDecode, SingleLabelKeepsTheBestClassMultiLabelAllAboveThreshold) {
  OneAnchorHead head(10, 1, 1, 2, {0, 0, 0, 0, logit(0.95f)}, 7, logit(0.9f));
  // Class 9 also clears 0.3 (0.95 * 0.5), class 11 does not (0.95 * 0.3).
  head.data[(size_t{85} * 2 + 5 + 9) * 100 + 11] = 0.0f;
  head.data[(size_t{85} * 2 + 5 + 11) * 100 + 11] = logit(0.3f);
  const auto layers = default_yolo_layers();
  const HeadView view = nchw_head(head.data.data(), 10, 10, 32);
  const ImageTransform t = make_image_transform(320, 320, 320, 320, ResizeMode::kPlain);
  const auto single = decode_yolo(std::span(&view, 1), std::span(&layers[2], 1), t, {});
  ASSERT_EQ(single.size(), 1u);
  EXPECT_EQ(single[0].class_id, 7);
  DecodeOptions multi_options;
  multi_options.labels = LabelMode::kMulti;
  const auto multi = decode_yolo(std::span(&view, 1), std::span(&layers[2], 1), t, multi_options);
  ASSERT_EQ(multi.size(), 2u);
  EXPECT_EQ(multi[0].class_id, 7);
  EXPECT_EQ(multi[1].class_id, 9);
  EXPECT_NEAR(multi[1].score, 0.475f, 1e-5);
}

TEST(YoloDecode, NhwcAndPaddedViewsMatchNchw) {
  const RandomHeads heads(7);
  const auto layers = default_yolo_layers();
  const ImageTransform t = make_image_transform(500, 375, 320, 320, ResizeMode::kLetterbox);
  const auto expected = decode_yolo(heads.views(), layers, t, {});
  ASSERT_FALSE(expected.empty());
  for (int padded_channels : {kChannels, 256}) {
    std::array<std::vector<float>, 3> nhwc;
    std::vector<HeadView> views;
    for (int i = 0; i < 3; ++i) {
      const int g = heads.grid(i);
      nhwc[i].assign(static_cast<size_t>(padded_channels) * g * g,
                     NAN);  // padding must never be read
      for (int c = 0; c < kChannels; ++c) {
        for (int p = 0; p < g * g; ++p) {
          nhwc[i][static_cast<size_t>(p) * padded_channels + c] =
              heads.data[i][static_cast<size_t>(c) * g * g + p];
        }
      }
      views.push_back(nhwc_head(nhwc[i].data(), g, g, padded_channels, heads.stride(i)));
    }
    const auto actual = decode_yolo(views, layers, t, {});
    test::expect_same_detections(
        actual, expected, "NHWC with " + std::to_string(padded_channels) + " channels per pixel");
  }
}

TEST(YoloDecode, RejectsMismatchedGridsAndBadOptions) {
  std::vector<float> data(size_t{kChannels} * 9 * 9, -20.0f);
  const auto layers = default_yolo_layers();
  const ImageTransform t = make_image_transform(320, 320, 320, 320, ResizeMode::kPlain);
  const HeadView wrong_grid = nchw_head(data.data(), 9, 9, 32);
  EXPECT_THROW(
      {
        try {
          decode_yolo(std::span(&wrong_grid, 1), std::span(&layers[2], 1), t, {});
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("expected 10x10"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  // One head, three layers: which layer decodes it is ambiguous.
  const HeadView one_head = nchw_head(data.data(), 9, 9, 32);
  const ImageTransform t288 = make_image_transform(288, 288, 288, 288, ResizeMode::kPlain);
  EXPECT_THROW(decode_yolo(std::span(&one_head, 1), layers, t288, {}), Error);
  YoloLayer no_classes = layers[2];
  no_classes.classes = 0;
  EXPECT_THROW(decode_yolo(std::span(&one_head, 1), std::span(&no_classes, 1), t288, {}), Error);
  DecodeOptions bad;
  bad.conf_threshold = 1.5f;
  EXPECT_THROW(decode_yolo({}, layers, t, bad), Error);
}

// ---------------------------------------------------------------------------------------------
// NMS, by hand.

Detection box(int cls, float score, float x1, float y1, float x2, float y2) {
  return {cls, score, x1, y1, x2, y2};
}

TEST(Nms, IouOfKnownBoxes) {
  EXPECT_FLOAT_EQ(box_iou(box(0, 1, 0, 0, 10, 10), box(0, 1, 5, 0, 15, 10)), 50.0f / 150.0f);
  EXPECT_FLOAT_EQ(box_iou(box(0, 1, 0, 0, 10, 10), box(0, 1, 10, 0, 20, 10)), 0.0f);
  EXPECT_FLOAT_EQ(box_iou(box(0, 1, 0, 0, 10, 10), box(0, 1, 0, 0, 10, 10)), 1.0f);
}

TEST(Nms, DiouSubtractsTheCentreDistancePenalty) {
  // Centres 5 apart, enclosing box 15 x 10: penalty (25 / 325) ^ 0.6.
  const float expected = 50.0f / 150.0f - std::pow(25.0f / 325.0f, 0.6f);
  EXPECT_NEAR(box_diou(box(0, 1, 0, 0, 10, 10), box(0, 1, 5, 0, 15, 10), 0.6f), expected, 1e-6);
  EXPECT_FLOAT_EQ(box_diou(box(0, 1, 0, 0, 10, 10), box(0, 1, 0, 0, 10, 10), 0.6f), 1.0f);
}

TEST(Nms, SuppressesPerClassByDescendingScore) {
  const std::vector<Detection> dets = {
      box(0, 0.6f, 0, 0, 10, 10), box(0, 0.9f, 1, 0, 11, 10),  // overlap: 0.9 wins
      box(1, 0.5f, 1, 0, 11, 10),                              // other class: kept
      box(0, 0.7f, 50, 50, 60, 60),                            // far away: kept
  };
  const auto kept = nms(dets, {});
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_FLOAT_EQ(kept[0].score, 0.9f);
  EXPECT_FLOAT_EQ(kept[1].score, 0.7f);
  EXPECT_EQ(kept[2].class_id, 1);
}

TEST(Nms, ClassAgnosticSuppressesAcrossClasses) {
  const std::vector<Detection> dets = {
      box(0, 0.6f, 0, 0, 10, 10), box(1, 0.9f, 1, 0, 11, 10),  // overlap, other class: 0.9 wins
      box(2, 0.7f, 50, 50, 60, 60),                            // far away: kept
  };
  NmsOptions options;
  options.class_agnostic = true;
  const auto kept = nms(dets, options);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].class_id, 1);
  EXPECT_EQ(kept[1].class_id, 2);
  EXPECT_EQ(nms(dets, {}).size(), 3u);
}

TEST(Nms, DiouKeepsOverlappingBoxesWithDistantCentres) {
  // IoU 120 / 280 = 0.43 > 0.4, but centres 8 apart in a 28 x 10 enclosing box cost
  // (64 / 884) ^ 0.6 = 0.21, leaving DIoU 0.22.
  const std::vector<Detection> dets = {box(0, 0.9f, 0, 0, 20, 10), box(0, 0.8f, 8, 0, 28, 10)};
  EXPECT_EQ(nms(dets, {}).size(), 1u);
  NmsOptions diou;
  diou.kind = NmsKind::kDiou;
  EXPECT_EQ(nms(dets, diou).size(), 2u);
}

TEST(Nms, EqualScoresKeepInputOrderAndMaxDetCaps) {
  std::vector<Detection> dets;
  for (int i = 0; i < 10; ++i) dets.push_back(box(i, 0.5f, 0, 0, 10, 10));
  dets.push_back(box(3, 0.8f, 100, 100, 110, 110));
  NmsOptions options;
  options.max_detections = 4;
  const auto kept = nms(dets, options);
  ASSERT_EQ(kept.size(), 4u);
  EXPECT_EQ(kept[0].class_id, 3);
  EXPECT_FLOAT_EQ(kept[0].score, 0.8f);
  EXPECT_EQ(kept[1].class_id, 0);
  EXPECT_EQ(kept[2].class_id, 1);
  EXPECT_EQ(kept[3].class_id, 2);
}

// ---------------------------------------------------------------------------------------------
// Against the numpy reference.

struct ReferenceCase {
  std::string name;
  int image_width, image_height;
  ResizeMode mode;
  LabelMode labels;
  NmsKind kind;
  std::array<float, 3> scale_xy = {1, 1, 1};
  int max_det = 300;
  float conf = 0.3f;
};

std::string reference_arguments(const ReferenceCase& c, const std::vector<std::string>& heads,
                                int net, const std::string& out) {
  std::ostringstream args;
  args << "decode --heads";
  for (const auto& head : heads) args << ' ' << test::shell_quote(head);
  args << " --net " << net << ' ' << net << " --image " << c.image_width << ' ' << c.image_height
       << " --mode " << (c.mode == ResizeMode::kPlain ? "plain" : "letterbox") << " --labels "
       << (c.labels == LabelMode::kSingle ? "single" : "multi") << " --nms "
       << (c.kind == NmsKind::kIou ? "iou" : "diou") << " --conf " << c.conf
       << " --iou 0.4 --beta 0.6 --max-det " << c.max_det << " --scale-xy " << c.scale_xy[0] << ' '
       << c.scale_xy[1] << ' ' << c.scale_xy[2] << " --out " << test::shell_quote(out);
  return args.str();
}

// Decodes and suppresses in C++ and in Python, and compares both stages box for box.
void compare_with_reference(const ReferenceCase& c, const std::vector<HeadView>& views,
                            const std::vector<std::string>& head_paths, int net,
                            const test::TempDir& dir) {
  const std::string out = dir.file(c.name + ".json");
  const std::string error =
      test::run_reference(reference_arguments(c, head_paths, net, out), dir.file(c.name + ".log"));
  ASSERT_TRUE(error.empty()) << error;
  const std::string json = test::read_bytes(out);

  auto layers = default_yolo_layers();
  for (int i = 0; i < 3; ++i) layers[i].scale_xy = c.scale_xy[i];
  const ImageTransform t = make_image_transform(c.image_width, c.image_height, net, net, c.mode);
  DecodeOptions decode_options;
  decode_options.labels = c.labels;
  decode_options.conf_threshold = c.conf;
  const auto decoded = decode_yolo(views, layers, t, decode_options);
  NmsOptions nms_options;
  nms_options.kind = c.kind;
  nms_options.max_detections = c.max_det;
  const auto final_boxes = nms(decoded, nms_options);

  const auto expected_decoded = test::parse_reference_boxes(json, "decoded");
  const auto expected_final = test::parse_reference_boxes(json, "final");
  EXPECT_GT(expected_decoded.size(), expected_final.size()) << c.name << ": NMS removed nothing";
  EXPECT_FALSE(expected_final.empty()) << c.name;
  test::expect_same_detections(decoded, expected_decoded, c.name + " decoded");
  test::expect_same_detections(final_boxes, expected_final, c.name + " after NMS");
}

void PrintTo(const ReferenceCase& c, std::ostream* out) {
  *out << c.name;
}

class ReferenceTest : public ::testing::TestWithParam<ReferenceCase> {};

TEST_P(ReferenceTest, RandomHeadsMatchPython) {
  const ReferenceCase& c = GetParam();
  const RandomHeads heads(1234);
  const test::TempDir dir;
  compare_with_reference(c, heads.views(), heads.save(dir), heads.net, dir);
}

using RM = ResizeMode;
using LM = LabelMode;
using NK = NmsKind;
INSTANTIATE_TEST_SUITE_P(
    Detect, ReferenceTest,
    ::testing::Values(
        ReferenceCase{"plain_single_iou", 768, 576, RM::kPlain, LM::kSingle, NK::kIou},
        ReferenceCase{"plain_multi_diou", 768, 576, RM::kPlain, LM::kMulti, NK::kDiou},
        ReferenceCase{"letterbox_single_diou", 768, 576, RM::kLetterbox, LM::kSingle, NK::kDiou},
        ReferenceCase{"letterbox_multi_iou", 768, 576, RM::kLetterbox, LM::kMulti, NK::kIou},
        ReferenceCase{"portrait_letterbox_single_iou", 500, 900, RM::kLetterbox, LM::kSingle,
                      NK::kIou},
        ReferenceCase{"odd_plain_multi_iou", 333, 1001, RM::kPlain, LM::kMulti, NK::kIou},
        ReferenceCase{"cfg_scale_xy_letterbox_single_diou",
                      1352,
                      900,
                      RM::kLetterbox,
                      LM::kSingle,
                      NK::kDiou,
                      {1.2f, 1.1f, 1.05f}},
        ReferenceCase{
            "max_det_plain_multi_iou", 640, 424, RM::kPlain, LM::kMulti, NK::kIou, {1, 1, 1}, 7},
        ReferenceCase{"low_conf_letterbox_multi_diou",
                      773,
                      512,
                      RM::kLetterbox,
                      LM::kMulti,
                      NK::kDiou,
                      {1, 1, 1},
                      300,
                      0.05f}),
    [](const ::testing::TestParamInfo<ReferenceCase>& info) { return info.param.name; });

// The reference's own hand-checked unit tests (tests/python/test_postprocess_ref.py).
TEST(PythonReference, UnitTestsPass) {
  const test::TempDir dir;
  const std::string command = "/usr/bin/python3 -m unittest discover -s " +
                              test::shell_quote(std::string(YOLO4_SOURCE_DIR) + "/tests/python") +
                              " -p 'test_postprocess*.py' > " + test::shell_quote(dir.file("log")) +
                              " 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << test::read_bytes(dir.file("log"));
}

// Heads of the random checkpoint on the sample images, written by the test data generator.
TEST(ReferenceTestData, CheckpointHeadsMatchPython) {
  const char* root = std::getenv("YOLO4_TESTDATA");
  const std::filesystem::path images = std::filesystem::path(root ? root : "") / "s320" / "images";
  if (root == nullptr || !std::filesystem::is_directory(images)) {
    GTEST_SKIP() << "YOLO4_TESTDATA/s320/images not found (YOLO4_TESTDATA="
                 << (root ? root : "unset") << "); the test data generator writes it";
  }
  int compared = 0;
  for (const auto& entry : std::filesystem::directory_iterator(images)) {
    const std::string name = entry.path().filename().string();
    std::vector<std::string> paths;
    std::vector<HostArray> arrays;
    for (int stride : {8, 16, 32}) {
      paths.push_back((entry.path() / ("head" + std::to_string(stride) + ".npy")).string());
      if (!std::filesystem::exists(paths.back())) break;
      arrays.push_back(read_npy(paths.back()));
    }
    if (arrays.size() != 3) continue;
    std::vector<HeadView> views;
    for (size_t i = 0; i < 3; ++i) {
      const auto& shape = arrays[i].shape;
      ASSERT_EQ(shape.size(), 4u) << paths[i];
      ASSERT_EQ(shape[1], kChannels) << paths[i];
      views.push_back(nchw_head(arrays[i].data.data(), static_cast<int>(shape[2]),
                                static_cast<int>(shape[3]), 8 << i));
    }
    // The boxes map to the sample image's own size when it is there.
    ImageSize size{320, 320};
    const std::string image = test::shared_data_dir() + "/images/" + name + ".jpg";
    if (std::filesystem::exists(image)) size = probe_image_size(image).value();
    const test::TempDir dir;
    compare_with_reference(
        {name + "_plain", size.width, size.height, RM::kPlain, LM::kSingle, NK::kIou}, views, paths,
        320, dir);
    compare_with_reference({name + "_letterbox",
                            size.width,
                            size.height,
                            RM::kLetterbox,
                            LM::kMulti,
                            NK::kDiou,
                            {1.2f, 1.1f, 1.05f}},
                           views, paths, 320, dir);
    ++compared;
  }
  if (compared == 0) GTEST_SKIP() << "no head{8,16,32}.npy under " << images;
}

}  // namespace
}  // namespace yolo4
