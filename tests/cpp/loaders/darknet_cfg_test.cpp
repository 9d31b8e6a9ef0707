#include "yolo4/loaders/darknet_cfg.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "loaders/loader_test_util.h"
#include "yolo4/model/conv_table.h"

namespace yolo4 {
namespace {

using test::expect_error;
using test::TempDir;

std::string cfg_path(const std::string& name) {
  return test::shared_data_dir() + "/" + name;
}

#define SKIP_WITHOUT(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not found (shared data absent)"

TEST(DarknetCfg, ParsesSectionsCommentsAndValues) {
  TempDir dir;
  const std::string path = dir.path("a.cfg");
  test::write_text(path,
                   "# leading comment\n"
                   "[net]\n"
                   "width = 608 \n"
                   "hue=.1\n"
                   "\n"
                   "; another comment\n"
                   "  [convolutional]  \r\n"
                   "filters=  64\r\n"
                   "activation=mish # not a comment: darknet keeps it\n"
                   "[yolo]\n"
                   "anchors = 12, 16, 19,36,  -.5\n"
                   "scale_x_y=-1e-2\n");
  const DarknetCfg cfg = parse_darknet_cfg(path);
  EXPECT_EQ(cfg.path, path);
  ASSERT_EQ(cfg.sections.size(), 3u);
  EXPECT_EQ(cfg.sections[0].type, "net");
  EXPECT_EQ(cfg.sections[0].line, 2);
  EXPECT_EQ(cfg.sections[1].type, "convolutional");
  EXPECT_EQ(cfg.sections[1].line, 7);
  EXPECT_EQ(cfg_int(cfg.sections[0], "width", 0), 608);
  EXPECT_EQ(cfg_int(cfg.sections[0], "height", 416), 416);
  EXPECT_FLOAT_EQ(cfg_float(cfg.sections[0], "hue", 0), 0.1f);
  EXPECT_FLOAT_EQ(cfg_float(cfg.sections[0], "saturation", 1.5f), 1.5f);
  EXPECT_EQ(cfg_int(cfg.sections[1], "filters", 0), 64);
  EXPECT_EQ(cfg_string(cfg.sections[1], "activation", ""),
            "mish # not a comment: darknet keeps it");
  EXPECT_EQ(cfg_string(cfg.sections[1], "missing", "linear"), "linear");
  EXPECT_EQ(cfg_floats(cfg.sections[2], "anchors"), (std::vector<float>{12, 16, 19, 36, -0.5f}));
  EXPECT_TRUE(cfg_floats(cfg.sections[2], "mask").empty());
  EXPECT_FLOAT_EQ(cfg_float(cfg.sections[2], "scale_x_y", 0), -0.01f);
}

TEST(DarknetCfg, ErrorsNamePathAndLine) {
  TempDir dir;
  const std::string path = dir.path("bad.cfg");
  const auto expect_parse_error = [&](const std::string& text,
                                      std::initializer_list<std::string> parts) {
    test::write_text(path, text);
    expect_error([&] { parse_darknet_cfg(path); }, parts);
  };
  expect_parse_error("[net]\nwidth=1\n[convolutional\n", {"bad.cfg:3", "section header"});
  expect_parse_error("[net]\n\nwidth 608\n", {"bad.cfg:3", "expected key=value", "width 608"});
  expect_parse_error("width=608\n[net]\n", {"bad.cfg:1", "before the first [section]"});
  expect_parse_error("[net]\n=3\n", {"bad.cfg:2", "empty key"});
  expect_parse_error("[net]\nwidth=1\nwidth=2\n", {"bad.cfg:3", "'width' repeated", "line 1"});
  expect_error([&] { parse_darknet_cfg(dir.path("none.cfg")); }, {"none.cfg", "cannot open"});

  test::write_text(path, "[net]\nwidth=6o8\nscales=.1,x\nheight=608.5\n");
  const DarknetCfg cfg = parse_darknet_cfg(path);
  expect_error([&] { cfg_int(cfg.sections[0], "width", 0); },
               {"[net] at line 1", "width='6o8'", "not a valid integer"});
  expect_error([&] { cfg_int(cfg.sections[0], "height", 0); }, {"height='608.5'"});
  expect_error([&] { cfg_floats(cfg.sections[0], "scales"); },
               {"[net] at line 1", "scales='x'", "not a valid number"});
}

TEST(DarknetCfg, ParsesYolov4Cfg) {
  const std::string path = cfg_path("yolov4.cfg");
  SKIP_WITHOUT(path);
  const DarknetCfg cfg = parse_darknet_cfg(path);
  ASSERT_EQ(cfg.sections.size(), 163u);
  EXPECT_EQ(cfg.sections[0].type, "net");
  EXPECT_EQ(cfg_int(cfg.sections[0], "width", 0), 608);
  EXPECT_FLOAT_EQ(cfg_float(cfg.sections[0], "hue", 0), 0.1f);
  EXPECT_EQ(cfg_floats(cfg.sections[0], "steps"), (std::vector<float>{400000, 450000}));
  const CfgSection& yolo = cfg.sections.back();
  EXPECT_EQ(yolo.type, "yolo");
  EXPECT_EQ(cfg_floats(yolo, "mask"), (std::vector<float>{6, 7, 8}));
  const auto anchors = cfg_floats(yolo, "anchors");
  ASSERT_EQ(anchors.size(), 18u);
  EXPECT_EQ(anchors.back(), 401);
  EXPECT_FLOAT_EQ(cfg_float(yolo, "scale_x_y", 1), 1.05f);
  int convs = 0;
  for (const auto& s : cfg.sections) convs += s.type == "convolutional";
  EXPECT_EQ(convs, kYolov4ConvCount);
}

TEST(ConvTable, MatchesYolov4Cfg) {
  const std::string path = cfg_path("yolov4.cfg");
  SKIP_WITHOUT(path);
  check_cfg_matches(parse_darknet_cfg(path));
}

TEST(ConvTable, KeysShapesAndTotals) {
  const auto convs = yolov4_convs();
  ASSERT_EQ(convs.size(), static_cast<size_t>(kYolov4ConvCount));
  EXPECT_EQ(convs.front().key, "down1.conv1");
  EXPECT_EQ(convs[11].key, "down2.resblock.module_list.0.0");
  EXPECT_EQ(convs.back().key, "head.conv18");
  int64_t pytorch_params = 0, darknet_floats = 0;
  for (const ConvSpec& spec : convs) {
    pytorch_params += weight_count(spec) + (spec.batch_norm ? 2 : 1) * spec.out_channels;
    darknet_floats += weight_count(spec) + (spec.batch_norm ? 4 : 1) * spec.out_channels;
    EXPECT_EQ(&yolov4_conv(spec.key), &spec);
  }
  EXPECT_EQ(pytorch_params, 64363101);            // YOLOv4's published parameter count
  EXPECT_EQ(darknet_floats * 4 + 20, 257717640);  // size of AlexeyAB's yolov4.weights
  for (const char* key : {"head.conv2", "head.conv10", "head.conv18"}) {
    const ConvSpec& head = yolov4_conv(key);
    EXPECT_EQ(head.out_channels, 255);
    EXPECT_FALSE(head.batch_norm);
    EXPECT_EQ(head.activation, Activation::kNone);
  }
  EXPECT_EQ(yolov4_conv("neek.conv4").in_channels, 2048);
  expect_error([] { yolov4_conv("neek.conv21"); }, {"no YOLOv4 conv named 'neek.conv21'"});
}

// yolov4.cfg with the `occurrence`-th (0-based) line equal to `from` replaced by `to`.
std::string modified_cfg(const TempDir& dir, const std::string& from, const std::string& to,
                         int occurrence, int* changed_line) {
  std::ifstream in(cfg_path("yolov4.cfg"));
  std::ostringstream out;
  std::string line;
  for (int number = 1, seen = 0; std::getline(in, line); ++number) {
    if (line == from && seen++ == occurrence) {
      line = to;
      *changed_line = number;
    }
    out << line << '\n';
  }
  const std::string path = dir.path("modified.cfg");
  test::write_text(path, out.str());
  return path;
}

TEST(ConvTable, CfgMismatchesNameLineAndValues) {
  SKIP_WITHOUT(cfg_path("yolov4.cfg"));
  TempDir dir;
  int line = 0;
  struct Case {
    std::string from, to;
    int occurrence;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"filters=64", "filters=65", 2, {"conv #3 (down1.conv4)", "expected filters=64, found 65"}},
      {"size=3", "size=1", 0, {"conv #0 (down1.conv1)", "expected size=3, found 1"}},
      {"stride=2", "stride=1", 1, {"down2.conv1", "expected stride=2, found 1"}},
      {"activation=mish", "activation=leaky", 5, {"expected activation=mish, found leaky"}},
      {"activation=linear", "activation=logistic", 23, {"head.conv2", "activation=linear"}},
      {"batch_normalize=1", "batch_normalize=0", 7, {"expected batch_normalize=1, found 0"}},
      {"layers = -1,-7", "layers = -1,-6", 0, {"[route]", "expected layers=-1,-7, found -1,-6"}},
      {"channels=3", "channels=4", 0, {"[net]", "expected channels=3, found 4"}},
      {"from=-3", "from=-2", 0, {"[shortcut]", "expected from=-3, found -2"}},
      {"layers = -1,-7", "layers = -1,-70", 0, {"[route]", "layer reference -70"}},
      {"size=9", "size=7", 0, {"[maxpool]", "expected size=9, found 7"}},
      {"classes=80", "classes=20", 1, {"[yolo]", "expected input channels"}},
      {"[upsample]", "[reorg]", 0, {"[reorg]", "layer type not in YOLOv4"}},
      {"[yolo]", "[maxpool]", 2, {"expected 3 [maxpool] layers as in yolov4.cfg, found 4"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.from + " -> " + c.to);
    line = 0;
    const std::string path = modified_cfg(dir, c.from, c.to, c.occurrence, &line);
    ASSERT_GT(line, 0) << "line not found in yolov4.cfg";
    const DarknetCfg cfg = parse_darknet_cfg(path);
    const std::string message = test::error_of([&] { check_cfg_matches(cfg); });
    EXPECT_NE(message.find("modified.cfg:"), std::string::npos) << message;
    for (const auto& part : c.parts) {
      EXPECT_NE(message.find(part), std::string::npos) << part << " not in: " << message;
    }
  }
}

TEST(ConvTable, RejectsYolov4TinyCfg) {
  const std::string path = cfg_path("yolov4-tiny.cfg");
  SKIP_WITHOUT(path);
  const DarknetCfg cfg = parse_darknet_cfg(path);
  expect_error([&] { check_cfg_matches(cfg); },
               {"yolov4-tiny.cfg:", "conv #0 (down1.conv1)", "expected stride=1, found 2"});
}

}  // namespace
}  // namespace yolo4
