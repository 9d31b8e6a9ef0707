#include "yolo4/model/conv_table.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "yolo4/core/error.h"

namespace yolo4 {
namespace {

// Generated from yolov4.cfg (filters, size, stride, batch_normalize, activation; in_channels by
// following its routes and shortcuts) and named after models.py, whose modules are declared in
// cfg order within each block. Totals: 64,363,101 PyTorch parameters; 64,429,405 floats in a
// .weights file (BatchNorm running statistics included), i.e. the 257,717,640-byte yolov4.weights.
constexpr std::array<ConvSpec, kYolov4ConvCount> kConvs = {{
    // Backbone CSPDarknet53: down1..down5 (each CSP stage: conv1 downsamples, conv2 is the
    // bypass, conv3 feeds the residual blocks, conv4/conv5 merge).
    {"down1.conv1", 3, 32, 3, 1, true, Activation::kMish},
    {"down1.conv2", 32, 64, 3, 2, true, Activation::kMish},
    {"down1.conv3", 64, 64, 1, 1, true, Activation::kMish},
    {"down1.conv4", 64, 64, 1, 1, true, Activation::kMish},
    {"down1.conv5", 64, 32, 1, 1, true, Activation::kMish},
    {"down1.conv6", 32, 64, 3, 1, true, Activation::kMish},
    {"down1.conv7", 64, 64, 1, 1, true, Activation::kMish},
    {"down1.conv8", 128, 64, 1, 1, true, Activation::kMish},
    {"down2.conv1", 64, 128, 3, 2, true, Activation::kMish},
    {"down2.conv2", 128, 64, 1, 1, true, Activation::kMish},
    {"down2.conv3", 128, 64, 1, 1, true, Activation::kMish},
    {"down2.resblock.module_list.0.0", 64, 64, 1, 1, true, Activation::kMish},
    {"down2.resblock.module_list.0.1", 64, 64, 3, 1, true, Activation::kMish},
    {"down2.resblock.module_list.1.0", 64, 64, 1, 1, true, Activation::kMish},
    {"down2.resblock.module_list.1.1", 64, 64, 3, 1, true, Activation::kMish},
    {"down2.conv4", 64, 64, 1, 1, true, Activation::kMish},
    {"down2.conv5", 128, 128, 1, 1, true, Activation::kMish},
    {"down3.conv1", 128, 256, 3, 2, true, Activation::kMish},
    {"down3.conv2", 256, 128, 1, 1, true, Activation::kMish},
    {"down3.conv3", 256, 128, 1, 1, true, Activation::kMish},
    {"down3.resblock.module_list.0.0", 128, 128, 1, 1, true, Activation::kMish},
    {"down3.resblock.module_list.0.1", 128, 128, 3, 1, true, Activation::kMish},
    {"down3.resblock.module_list.1.0", 128, 128, 1, 1, true, Activation::kMish},
    {"down3.resblock.module_list.1.1", 128, 128, 3, 1, true, Activation::kMish},
    {"down3.resblock.module_list.2.0", 128, 128, 1, 1, true, Activation::kMish},
    {"down3.resblock.module_list.2.1", 128, 128, 3, 1, true, Activation::kMish},
    {"down3.resblock.module_list.3.0", 128, 128, 1, 1, true, Activation::kMish},
    {"down3.resblock.module_list.3.1", 128, 128, 3, 1, true, Activation::kMish},
    {"down3.resblock.module_list.4.0", 128, 128, 1, 1, true, Activation::kMish},
    {"down3.resblock.module_list.4.1", 128, 128, 3, 1, true, Activation::kMish},
    {"down3.resblock.module_list.5.0", 128, 128, 1, 1, true, Activation::kMish},
    {"down3.resblock.module_list.5.1", 128, 128, 3, 1, true, Activation::kMish},
    {"down3.resblock.module_list.6.0", 128, 128, 1, 1, true, Activation::kMish},
    {"down3.resblock.module_list.6.1", 128, 128, 3, 1, true, Activation::kMish},
    {"down3.resblock.module_list.7.0", 128, 128, 1, 1, true, Activation::kMish},
    {"down3.resblock.module_list.7.1", 128, 128, 3, 1, true, Activation::kMish},
    {"down3.conv4", 128, 128, 1, 1, true, Activation::kMish},
    {"down3.conv5", 256, 256, 1, 1, true, Activation::kMish},
    {"down4.conv1", 256, 512, 3, 2, true, Activation::kMish},
    {"down4.conv2", 512, 256, 1, 1, true, Activation::kMish},
    {"down4.conv3", 512, 256, 1, 1, true, Activation::kMish},
    {"down4.resblock.module_list.0.0", 256, 256, 1, 1, true, Activation::kMish},
    {"down4.resblock.module_list.0.1", 256, 256, 3, 1, true, Activation::kMish},
    {"down4.resblock.module_list.1.0", 256, 256, 1, 1, true, Activation::kMish},
    {"down4.resblock.module_list.1.1", 256, 256, 3, 1, true, Activation::kMish},
    {"down4.resblock.module_list.2.0", 256, 256, 1, 1, true, Activation::kMish},
    {"down4.resblock.module_list.2.1", 256, 256, 3, 1, true, Activation::kMish},
    {"down4.resblock.module_list.3.0", 256, 256, 1, 1, true, Activation::kMish},
    {"down4.resblock.module_list.3.1", 256, 256, 3, 1, true, Activation::kMish},
    {"down4.resblock.module_list.4.0", 256, 256, 1, 1, true, Activation::kMish},
    {"down4.resblock.module_list.4.1", 256, 256, 3, 1, true, Activation::kMish},
    {"down4.resblock.module_list.5.0", 256, 256, 1, 1, true, Activation::kMish},
    {"down4.resblock.module_list.5.1", 256, 256, 3, 1, true, Activation::kMish},
    {"down4.resblock.module_list.6.0", 256, 256, 1, 1, true, Activation::kMish},
    {"down4.resblock.module_list.6.1", 256, 256, 3, 1, true, Activation::kMish},
    {"down4.resblock.module_list.7.0", 256, 256, 1, 1, true, Activation::kMish},
    {"down4.resblock.module_list.7.1", 256, 256, 3, 1, true, Activation::kMish},
    {"down4.conv4", 256, 256, 1, 1, true, Activation::kMish},
    {"down4.conv5", 512, 512, 1, 1, true, Activation::kMish},
    {"down5.conv1", 512, 1024, 3, 2, true, Activation::kMish},
    {"down5.conv2", 1024, 512, 1, 1, true, Activation::kMish},
    {"down5.conv3", 1024, 512, 1, 1, true, Activation::kMish},
    {"down5.resblock.module_list.0.0", 512, 512, 1, 1, true, Activation::kMish},
    {"down5.resblock.module_list.0.1", 512, 512, 3, 1, true, Activation::kMish},
    {"down5.resblock.module_list.1.0", 512, 512, 1, 1, true, Activation::kMish},
    {"down5.resblock.module_list.1.1", 512, 512, 3, 1, true, Activation::kMish},
    {"down5.resblock.module_list.2.0", 512, 512, 1, 1, true, Activation::kMish},
    {"down5.resblock.module_list.2.1", 512, 512, 3, 1, true, Activation::kMish},
    {"down5.resblock.module_list.3.0", 512, 512, 1, 1, true, Activation::kMish},
    {"down5.resblock.module_list.3.1", 512, 512, 3, 1, true, Activation::kMish},
    {"down5.conv4", 512, 512, 1, 1, true, Activation::kMish},
    {"down5.conv5", 1024, 1024, 1, 1, true, Activation::kMish},
    // Neck (SPP + PANet); the attribute is spelled "neek" in models.py.
    {"neek.conv1", 1024, 512, 1, 1, true, Activation::kLeaky},
    {"neek.conv2", 512, 1024, 3, 1, true, Activation::kLeaky},
    {"neek.conv3", 1024, 512, 1, 1, true, Activation::kLeaky},
    {"neek.conv4", 2048, 512, 1, 1, true, Activation::kLeaky},
    {"neek.conv5", 512, 1024, 3, 1, true, Activation::kLeaky},
    {"neek.conv6", 1024, 512, 1, 1, true, Activation::kLeaky},
    {"neek.conv7", 512, 256, 1, 1, true, Activation::kLeaky},
    {"neek.conv8", 512, 256, 1, 1, true, Activation::kLeaky},
    {"neek.conv9", 512, 256, 1, 1, true, Activation::kLeaky},
    {"neek.conv10", 256, 512, 3, 1, true, Activation::kLeaky},
    {"neek.conv11", 512, 256, 1, 1, true, Activation::kLeaky},
    {"neek.conv12", 256, 512, 3, 1, true, Activation::kLeaky},
    {"neek.conv13", 512, 256, 1, 1, true, Activation::kLeaky},
    {"neek.conv14", 256, 128, 1, 1, true, Activation::kLeaky},
    {"neek.conv15", 256, 128, 1, 1, true, Activation::kLeaky},
    {"neek.conv16", 256, 128, 1, 1, true, Activation::kLeaky},
    {"neek.conv17", 128, 256, 3, 1, true, Activation::kLeaky},
    {"neek.conv18", 256, 128, 1, 1, true, Activation::kLeaky},
    {"neek.conv19", 128, 256, 3, 1, true, Activation::kLeaky},
    {"neek.conv20", 256, 128, 1, 1, true, Activation::kLeaky},
    // Head: conv2, conv10 and conv18 are the stride 8/16/32 outputs (3 anchors x 85).
    {"head.conv1", 128, 256, 3, 1, true, Activation::kLeaky},
    {"head.conv2", 256, 255, 1, 1, false, Activation::kNone},
    {"head.conv3", 128, 256, 3, 2, true, Activation::kLeaky},
    {"head.conv4", 512, 256, 1, 1, true, Activation::kLeaky},
    {"head.conv5", 256, 512, 3, 1, true, Activation::kLeaky},
    {"head.conv6", 512, 256, 1, 1, true, Activation::kLeaky},
    {"head.conv7", 256, 512, 3, 1, true, Activation::kLeaky},
    {"head.conv8", 512, 256, 1, 1, true, Activation::kLeaky},
    {"head.conv9", 256, 512, 3, 1, true, Activation::kLeaky},
    {"head.conv10", 512, 255, 1, 1, false, Activation::kNone},
    {"head.conv11", 256, 512, 3, 2, true, Activation::kLeaky},
    {"head.conv12", 1024, 512, 1, 1, true, Activation::kLeaky},
    {"head.conv13", 512, 1024, 3, 1, true, Activation::kLeaky},
    {"head.conv14", 1024, 512, 1, 1, true, Activation::kLeaky},
    {"head.conv15", 512, 1024, 3, 1, true, Activation::kLeaky},
    {"head.conv16", 1024, 512, 1, 1, true, Activation::kLeaky},
    {"head.conv17", 512, 1024, 3, 1, true, Activation::kLeaky},
    {"head.conv18", 1024, 255, 1, 1, false, Activation::kNone},
}};

// The rest of yolov4.cfg's skeleton. Channel counts alone would miss a route to a different
// layer of the same width, so the routes' layer references are data too (cfg order: the CSP
// stages, SPP, the PANet top-down path, the bottom-up path of the head).
constexpr std::array<std::string_view, 21> kRouteLayers = {
    "-2", "-1,-7",  "-2",          "-1,-10", "-2", "-1,-28", "-2", "-1,-28", "-2", "-1,-16",  // CSP
    "-2", "-4",     "-1,-3,-5,-6",                                                            // SPP
    "85", "-1,-3",  "54",          "-1,-3",    // PANet
    "-4", "-1,-16", "-4",          "-1,-37"};  // head
constexpr int kShortcutFrom = -3;              // every residual block adds its input
constexpr int kShortcutCount = 23;
constexpr std::array kMaxpoolSizes = {5, 9, 13};
constexpr int kUpsampleCount = 2;
constexpr int kYoloCount = 3;

std::optional<Activation> parse_activation(const std::string& name) {
  try {
    return parse_darknet_activation(name);
  } catch (const Error&) {
    return std::nullopt;
  }
}

// Walks the cfg like darknet builds it, tracking each layer's output channels so that a conv's
// input channels (and so the routes and shortcuts feeding it) can be compared with the table.
class CfgChecker {
 public:
  explicit CfgChecker(const DarknetCfg& cfg) : cfg_(cfg) {}

  void run() {
    YOLO4_CHECK(!cfg_.sections.empty() && cfg_.sections.front().type == "net", cfg_.path,
                ": expected the cfg to start with a [net] section");
    const CfgSection& net = cfg_.sections.front();
    expect(net, "channels", kConvs[0].in_channels, cfg_int(net, "channels", 3));
    input_channels_ = kConvs[0].in_channels;
    for (size_t i = 1; i < cfg_.sections.size(); ++i) layer(cfg_.sections[i]);
    expect_count("convolutional", kYolov4ConvCount, conv_count_);
    expect_count("maxpool", static_cast<int>(kMaxpoolSizes.size()), maxpool_count_);
    expect_count("upsample", kUpsampleCount, upsample_count_);
    expect_count("yolo", kYoloCount, yolo_count_);
    expect_count("route", static_cast<int>(kRouteLayers.size()), route_count_);
    expect_count("shortcut", kShortcutCount, shortcut_count_);
  }

 private:
  template <class... Parts>
  [[noreturn]] void error(const CfgSection& s, const Parts&... parts) const {
    fail(cfg_.path, ":", s.line, ": [", s.type, "] ", parts...);
  }
  template <class T>
  void expect(const CfgSection& s, const char* what, const T& expected, const T& found) const {
    if (expected != found) error(s, context_, "expected ", what, "=", expected, ", found ", found);
  }
  void expect_count(const char* type, int expected, int found) const {
    YOLO4_CHECK(expected == found, cfg_.path, ": expected ", expected, " [", type,
                "] layers as in yolov4.cfg, found ", found);
  }

  // Darknet layer references are relative when negative, else absolute layer indices.
  int layer_channels(const CfgSection& s, float reference) const {
    const int index = static_cast<int>(reference);
    if (index != reference) error(s, "layer reference ", reference, " is not an integer");
    const int layer = index < 0 ? static_cast<int>(channels_.size()) + index : index;
    if (layer < 0 || layer >= static_cast<int>(channels_.size())) {
      error(s, "layer reference ", index, " is outside layers 0..", channels_.size() - 1);
    }
    return channels_[static_cast<size_t>(layer)];
  }
  int previous_channels() const { return channels_.empty() ? input_channels_ : channels_.back(); }

  void layer(const CfgSection& s) {
    context_.clear();
    int out = previous_channels();
    if (s.type == "convolutional") {
      out = conv(s);
    } else if (s.type == "route") {
      out = route(s);
    } else if (s.type == "shortcut") {
      ++shortcut_count_;
      const int from = cfg_int(s, "from", 0);
      expect(s, "from", kShortcutFrom, from);
      expect(s, "shortcut channels", out, layer_channels(s, static_cast<float>(from)));
      expect(s, "activation", std::string("linear"), cfg_string(s, "activation", "linear"));
    } else if (s.type == "maxpool") {
      const size_t n = static_cast<size_t>(maxpool_count_++);
      if (n < kMaxpoolSizes.size()) expect(s, "size", kMaxpoolSizes[n], cfg_int(s, "size", 1));
      expect(s, "stride", 1, cfg_int(s, "stride", 1));
    } else if (s.type == "upsample") {
      ++upsample_count_;
      expect(s, "stride", 2, cfg_int(s, "stride", 2));
    } else if (s.type == "yolo") {
      ++yolo_count_;
      const int outputs =
          static_cast<int>(cfg_floats(s, "mask").size()) * (cfg_int(s, "classes", 20) + 5);
      expect(s, "input channels = masks x (classes + 5)", outputs, out);
    } else {
      error(s, "layer type not in YOLOv4");
    }
    channels_.push_back(out);
  }

  int route(const CfgSection& s) {
    const size_t n = static_cast<size_t>(route_count_++);
    if (n >= kRouteLayers.size()) error(s, "more than ", kRouteLayers.size(), " routes");
    expect(s, "groups", 1, cfg_int(s, "groups", 1));
    std::string layers;
    int channels = 0;
    for (const float reference : cfg_floats(s, "layers")) {
      channels += layer_channels(s, reference);
      if (!layers.empty()) layers += ',';
      layers += std::to_string(static_cast<int>(reference));
    }
    expect(s, "layers", std::string(kRouteLayers[n]), layers);
    return channels;
  }

  int conv(const CfgSection& s) {
    if (conv_count_ >= kYolov4ConvCount) error(s, "more than ", kYolov4ConvCount, " convolutions");
    const ConvSpec& spec = kConvs[static_cast<size_t>(conv_count_)];
    context_ = "conv #" + std::to_string(conv_count_++) + " (" + std::string(spec.key) + "): ";
    const int kernel = cfg_int(s, "size", 1);
    expect(s, "filters", spec.out_channels, cfg_int(s, "filters", 1));
    expect(s, "size", spec.kernel, kernel);
    expect(s, "stride", spec.stride, cfg_int(s, "stride", 1));
    // pad=1 means "same" padding (size/2); otherwise darknet reads an explicit padding.
    const int padding = cfg_int(s, "pad", 0) ? kernel / 2 : cfg_int(s, "padding", 0);
    expect(s, "padding", spec.kernel / 2, padding);
    expect(s, "groups", 1, cfg_int(s, "groups", 1));
    expect(s, "batch_normalize", int{spec.batch_norm}, cfg_int(s, "batch_normalize", 0));
    const std::string activation = cfg_string(s, "activation", "logistic");
    if (parse_activation(activation) != spec.activation) {
      error(s, context_, "expected activation=",
            spec.activation == Activation::kNone ? "linear" : to_string(spec.activation),
            ", found ", activation);
    }
    expect(s, "input channels", spec.in_channels, previous_channels());
    return spec.out_channels;
  }

  const DarknetCfg& cfg_;
  std::string context_;  // names the conv being checked
  int input_channels_ = 0;
  std::vector<int> channels_;  // output channels of each layer so far
  int conv_count_ = 0, maxpool_count_ = 0, upsample_count_ = 0, yolo_count_ = 0, route_count_ = 0,
      shortcut_count_ = 0;
};

}  // namespace

std::span<const ConvSpec> yolov4_convs() {
  return kConvs;
}

const ConvSpec& yolov4_conv(std::string_view key) {
  const auto it = std::find_if(kConvs.begin(), kConvs.end(),
                               [&](const ConvSpec& spec) { return spec.key == key; });
  YOLO4_CHECK(it != kConvs.end(), "no YOLOv4 conv named '", key, "'");
  return *it;
}

void check_cfg_matches(const DarknetCfg& cfg) {
  CfgChecker(cfg).run();
}

}  // namespace yolo4
