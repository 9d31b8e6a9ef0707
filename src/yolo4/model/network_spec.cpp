#include "yolo4/model/network_spec.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "yolo4/core/error.h"
#include "yolo4/model/embedded_cfgs.h"

namespace yolo4 {
namespace {

// Keys that only matter for training: accepted and ignored, so official cfgs load as they are.
const std::set<std::string> kNetTrainingKeys = {"batch",
                                                "subdivisions",
                                                "momentum",
                                                "decay",
                                                "angle",
                                                "saturation",
                                                "exposure",
                                                "hue",
                                                "learning_rate",
                                                "burn_in",
                                                "max_batches",
                                                "policy",
                                                "steps",
                                                "scales",
                                                "mosaic",
                                                "cutmix",
                                                "mixup",
                                                "flip",
                                                "blur",
                                                "gaussian_noise",
                                                "max_chart_loss",
                                                "adam",
                                                "B1",
                                                "B2",
                                                "eps",
                                                "power",
                                                "label_smooth_eps",
                                                "aspect",
                                                "min_crop",
                                                "max_crop",
                                                "step",
                                                "gamma",
                                                "track",
                                                "augment_speed",
                                                "sequential_subdivisions",
                                                "dynamic_minibatch",
                                                "mosaic_bound",
                                                "letter_box_inference",
                                                "loss_scale",
                                                "optimized_memory",
                                                "workspace_size_limit_MB",
                                                "adversarial_lr",
                                                "attention",
                                                "contrastive",
                                                "unsupervised"};
const std::set<std::string> kYoloTrainingKeys = {"jitter",
                                                 "ignore_thresh",
                                                 "truth_thresh",
                                                 "random",
                                                 "iou_thresh",
                                                 "cls_normalizer",
                                                 "iou_normalizer",
                                                 "obj_normalizer",
                                                 "iou_loss",
                                                 "nms_kind",
                                                 "beta_nms",
                                                 "max_delta",
                                                 "resize",
                                                 "counters_per_class",
                                                 "label_smooth_eps",
                                                 "objectness_smooth",
                                                 "focal_loss",
                                                 "max",
                                                 "map",
                                                 "track_history_size",
                                                 "embedding_layer",
                                                 "sim_thresh",
                                                 "dets_for_track",
                                                 "dets_for_show",
                                                 "track_ciou_norm"};

struct SectionRules {
  std::set<std::string> keys;     // understood
  std::set<std::string> ignored;  // training only
};

const std::map<std::string, SectionRules>& section_rules() {
  static const std::map<std::string, SectionRules> rules = {
      {"net", {{"width", "height", "channels", "letter_box"}, kNetTrainingKeys}},
      {"convolutional",
       {{"filters", "size", "stride", "pad", "padding", "groups", "batch_normalize", "activation"},
        {}}},
      {"route", {{"layers", "groups", "group_id"}, {}}},
      {"shortcut", {{"from", "activation"}, {}}},
      {"maxpool", {{"size", "stride", "padding"}, {}}},
      {"upsample", {{"stride"}, {}}},
      {"dropout", {{}, {"probability", "dropblock", "dropblock_size_rel", "dropblock_size_abs"}}},
      {"yolo",
       {{"mask", "anchors", "classes", "num", "scale_x_y", "new_coords"}, kYoloTrainingKeys}},
  };
  return rules;
}

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string where(const DarknetCfg& cfg, const CfgSection& s) {
  return cfg.path + ":" + std::to_string(s.line) + ": [" + s.type + "]";
}

void check_keys(const DarknetCfg& cfg, const CfgSection& s) {
  const auto& rules = section_rules();
  const auto it = rules.find(s.type == "network" ? "net" : s.type);
  if (it == rules.end()) {
    std::set<std::string> types;
    for (const auto& [type, _] : rules) types.insert("[" + type + "]");
    fail(cfg.path, ":", s.line, ": section [", s.type,
         "] is not supported; supported: ", join(types));
  }
  for (const auto& [key, value] : s.values) {
    YOLO4_CHECK(it->second.keys.count(key) || it->second.ignored.count(key), where(cfg, s),
                " key '", key, "' is not supported; supported: ", join(it->second.keys));
  }
}

// A layer index as darknet writes it: negative is relative to `self`.
int resolve_index(const DarknetCfg& cfg, const CfgSection& s, float value, int self) {
  YOLO4_CHECK(value == std::floor(value), where(cfg, s), " layer index ", value,
              " is not an integer");
  // Checked as a float: converting one beyond int's range to int is undefined (fuzz finding).
  YOLO4_CHECK(value >= -float(self) && value < float(self), where(cfg, s), " refers to layer ",
              value, ", which is not an earlier layer (this is layer ", self, ")");
  return value < 0 ? self + int(value) : int(value);
}

int positive(const DarknetCfg& cfg, const CfgSection& s, const char* key, int fallback,
             int max = 1 << 20) {
  const int v = cfg_int(s, key, fallback);
  YOLO4_CHECK(v >= 1 && v <= max, where(cfg, s), " ", key, "=", v, " must be in 1..", max);
  return v;
}

// The section's activation= (darknet's name), with the file and line in errors.
Activation activation_of(const DarknetCfg& cfg, const CfgSection& s, const char* fallback) {
  try {
    return parse_darknet_activation(cfg_string(s, "activation", fallback));
  } catch (const Error& e) {
    fail(where(cfg, s), " ", e.what());
  }
}

ConvLayerSpec parse_conv(const DarknetCfg& cfg, const CfgSection& s) {
  ConvLayerSpec c;
  YOLO4_CHECK(s.values.count("filters"), where(cfg, s), " needs filters=");
  c.filters = positive(cfg, s, "filters", 1, kMaxFilters);
  c.size = positive(cfg, s, "size", 1, 9);
  c.stride = positive(cfg, s, "stride", 1, 8);
  c.groups = positive(cfg, s, "groups", 1, kMaxFilters);
  c.padding = cfg_int(s, "pad", 0) ? c.size / 2 : cfg_int(s, "padding", 0);
  YOLO4_CHECK(c.padding >= 0 && c.padding < c.size, where(cfg, s), " padding ", c.padding,
              " must be in 0..size-1 (", c.size - 1, ")");
  c.batch_normalize = cfg_int(s, "batch_normalize", 0) != 0;
  c.activation = activation_of(cfg, s, "logistic");  // darknet's default for a conv
  return c;
}

YoloLayerSpec parse_yolo(const DarknetCfg& cfg, const CfgSection& s) {
  YoloLayerSpec y;
  const std::vector<float> anchors = cfg_floats(s, "anchors");
  YOLO4_CHECK(!anchors.empty() && anchors.size() % 2 == 0, where(cfg, s),
              " anchors must be (w, h) pairs, got ", anchors.size(), " numbers");
  const int total = int(anchors.size() / 2);
  YOLO4_CHECK(cfg_int(s, "num", total) == total, where(cfg, s), " num=", cfg_int(s, "num", total),
              " but anchors lists ", total, " pairs");
  std::vector<float> mask = cfg_floats(s, "mask");
  if (mask.empty()) {  // darknet: every anchor
    for (int i = 0; i < total; ++i) mask.push_back(float(i));
  }
  for (float m : mask) {
    // Compared as floats: int(m) of a huge m is undefined, and then indexed out of bounds
    // (found by fuzz_darknet_model: mask=0,15555555555555555555555555,2).
    YOLO4_CHECK(m >= 0 && m == std::floor(m) && m < float(total), where(cfg, s), " mask entry ", m,
                " is not an anchor index below ", total);
    y.anchors.push_back(anchors[2 * size_t(m)]);
    y.anchors.push_back(anchors[2 * size_t(m) + 1]);
  }
  y.classes = positive(cfg, s, "classes", 20, 100000);
  y.scale_xy = cfg_float(s, "scale_x_y", 1.0f);
  YOLO4_CHECK(y.scale_xy > 0 && y.scale_xy < 16, where(cfg, s), " scale_x_y ", y.scale_xy,
              " must be in (0, 16)");
  y.new_coords = cfg_int(s, "new_coords", 0) != 0;
  return y;
}

LayerSpec parse_layer(const DarknetCfg& cfg, const CfgSection& s, int index) {
  LayerSpec l;
  l.line = s.line;
  if (index > 0) l.inputs = {index - 1};
  if (s.type == "convolutional") {
    l.kind = LayerKind::kConvolutional;
    l.conv = parse_conv(cfg, s);
  } else if (s.type == "route") {
    l.kind = LayerKind::kRoute;
    const std::vector<float> layers = cfg_floats(s, "layers");
    YOLO4_CHECK(!layers.empty(), where(cfg, s), " needs layers=");
    l.inputs.clear();
    for (float v : layers) l.inputs.push_back(resolve_index(cfg, s, v, index));
    l.route_groups = positive(cfg, s, "groups", 1, 1024);
    l.route_group_id = cfg_int(s, "group_id", 0);
    YOLO4_CHECK(l.route_group_id >= 0 && l.route_group_id < l.route_groups, where(cfg, s),
                " group_id ", l.route_group_id, " must be in 0..groups-1");
  } else if (s.type == "shortcut") {
    l.kind = LayerKind::kShortcut;
    const std::vector<float> from = cfg_floats(s, "from");
    YOLO4_CHECK(from.size() == 1, where(cfg, s), " needs exactly one from= layer, got ",
                from.size());
    l.inputs.push_back(resolve_index(cfg, s, from[0], index));
    l.shortcut_activation = activation_of(cfg, s, "linear");
  } else if (s.type == "maxpool") {
    l.kind = LayerKind::kMaxPool;
    l.pool_stride = positive(cfg, s, "stride", 1, 64);
    l.pool_size = positive(cfg, s, "size", l.pool_stride, 64);
    l.pool_padding = cfg_int(s, "padding", l.pool_size - 1);
    YOLO4_CHECK(l.pool_padding >= 0 && l.pool_padding < 2 * l.pool_size, where(cfg, s), " padding ",
                l.pool_padding, " must be in 0..", 2 * l.pool_size - 1);
  } else if (s.type == "upsample") {
    l.kind = LayerKind::kUpsample;
    l.upsample_stride = positive(cfg, s, "stride", 2, 32);
  } else if (s.type == "dropout") {
    l.kind = LayerKind::kDropout;
  } else {
    l.kind = LayerKind::kYolo;
    l.yolo = parse_yolo(cfg, s);
  }
  YOLO4_CHECK(index > 0 || l.kind == LayerKind::kConvolutional || l.kind == LayerKind::kMaxPool,
              where(cfg, s), " cannot be the first layer");
  return l;
}

std::string layer_name(const LayerSpec& l, int index) {
  static const char* kPrefix[] = {"conv",     "route",   "shortcut", "maxpool",
                                  "upsample", "dropout", "yolo"};
  return kPrefix[int(l.kind)] + std::to_string(index);
}

std::string layer_where(const NetworkSpec& spec, const LayerSpec& l, int index) {
  return spec.path + ":" + std::to_string(l.line) + ": layer " + std::to_string(index) + " [" +
         std::string(to_string(l.kind)) + "]";
}

// Output shapes for an input of width x height, layer by layer.
void infer_shapes(NetworkSpec& spec, int width, int height) {
  const Shape input{1, height, width, spec.channels};
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    LayerSpec& l = spec.layers[i];
    const Shape in = l.inputs.empty() ? input : spec.layers[size_t(l.inputs[0])].output;
    const std::string at = layer_where(spec, l, int(i));
    Shape out = in;
    switch (l.kind) {
      case LayerKind::kConvolutional: {
        const ConvLayerSpec& c = l.conv;
        YOLO4_CHECK(in.c % c.groups == 0 && c.filters % c.groups == 0, at, ": groups ", c.groups,
                    " must divide the input channels (", in.c, ") and filters (", c.filters, ")");
        out.h = (in.h + 2 * c.padding - c.size) / c.stride + 1;
        out.w = (in.w + 2 * c.padding - c.size) / c.stride + 1;
        out.c = c.filters;
        break;
      }
      case LayerKind::kRoute: {
        out.c = 0;
        for (int j : l.inputs) {
          const Shape& s = spec.layers[size_t(j)].output;
          YOLO4_CHECK(spec.layers[size_t(j)].kind != LayerKind::kYolo, at,
                      ": routing a [yolo] layer's output is not supported");
          YOLO4_CHECK(s.h == in.h && s.w == in.w, at, ": joins layers of ", in.w, "x", in.h,
                      " and ", s.w, "x", s.h, " pixels; the network input ", width, "x", height,
                      " does not fit this network");
          YOLO4_CHECK(s.c % l.route_groups == 0, at, ": groups ", l.route_groups,
                      " does not divide layer ", j, "'s ", s.c, " channels");
          out.c += s.c / l.route_groups;
        }
        break;
      }
      case LayerKind::kShortcut: {
        const Shape& from = spec.layers[size_t(l.inputs[1])].output;
        YOLO4_CHECK(from == in, at, ": adds layer ", l.inputs[1], " (", to_string(from),
                    ") to layer ", l.inputs[0], " (", to_string(in),
                    "); shortcuts need equal shapes");
        break;
      }
      case LayerKind::kMaxPool:
        out.h = (in.h + l.pool_padding - l.pool_size) / l.pool_stride + 1;
        out.w = (in.w + l.pool_padding - l.pool_size) / l.pool_stride + 1;
        break;
      case LayerKind::kUpsample:
        out.h = in.h * l.upsample_stride;
        out.w = in.w * l.upsample_stride;
        break;
      case LayerKind::kDropout:
        break;
      case LayerKind::kYolo: {
        const int expected = l.yolo.anchors.size() / 2 * (l.yolo.classes + 5);
        YOLO4_CHECK(in.c == expected, at, ": its input has ", in.c, " channels; ",
                    l.yolo.anchors.size() / 2, " anchors x (5 + ", l.yolo.classes,
                    " classes) = ", expected,
                    " expected (set the conv before it to filters=", expected, ")");
        break;
      }
    }
    YOLO4_CHECK(out.h >= 1 && out.w >= 1, at, ": the output would be empty for a ", width, "x",
                height, " input");
    l.output = out;
  }
}

}  // namespace

std::string_view to_string(LayerKind kind) {
  switch (kind) {
    case LayerKind::kConvolutional:
      return "convolutional";
    case LayerKind::kRoute:
      return "route";
    case LayerKind::kShortcut:
      return "shortcut";
    case LayerKind::kMaxPool:
      return "maxpool";
    case LayerKind::kUpsample:
      return "upsample";
    case LayerKind::kDropout:
      return "dropout";
    case LayerKind::kYolo:
      return "yolo";
  }
  return "unknown";
}

int NetworkSpec::num_classes() const {
  return yolo_layers.empty() ? 0 : layers[size_t(yolo_layers[0])].yolo.classes;
}

NetworkSpec NetworkSpec::resized(int new_width, int new_height) const {
  YOLO4_CHECK(new_width >= 1 && new_height >= 1 && new_width <= kMaxNetworkSide &&
                  new_height <= kMaxNetworkSide,
              path, ": input size ", new_width, "x", new_height, " must be in 1..",
              kMaxNetworkSide);
  NetworkSpec out = *this;
  out.width = new_width;
  out.height = new_height;
  infer_shapes(out, new_width, new_height);
  return out;
}

NetworkSpec parse_network(const DarknetCfg& cfg) {
  YOLO4_CHECK(
      !cfg.sections.empty() && (cfg.sections[0].type == "net" || cfg.sections[0].type == "network"),
      cfg.path, ": a darknet cfg starts with a [net] section");
  NetworkSpec spec;
  spec.path = cfg.path;
  const CfgSection& net = cfg.sections[0];
  check_keys(cfg, net);
  spec.width = positive(cfg, net, "width", 416, kMaxNetworkSide);
  spec.height = positive(cfg, net, "height", 416, kMaxNetworkSide);
  spec.channels = positive(cfg, net, "channels", 3, 3);
  YOLO4_CHECK(spec.channels == 3, where(cfg, net), " channels=", spec.channels,
              ": only 3-channel (RGB) networks are supported");
  spec.letterbox = cfg_int(net, "letter_box", 0) != 0;
  for (size_t i = 1; i < cfg.sections.size(); ++i) {
    const CfgSection& s = cfg.sections[i];
    check_keys(cfg, s);
    YOLO4_CHECK(s.type != "net" && s.type != "network", where(cfg, s),
                " only the first section may be [net]");
    const int index = int(spec.layers.size());
    spec.layers.push_back(parse_layer(cfg, s, index));
    spec.layers.back().name = layer_name(spec.layers.back(), index);
    if (spec.layers.back().kind == LayerKind::kYolo) spec.yolo_layers.push_back(index);
  }
  YOLO4_CHECK(!spec.yolo_layers.empty(), cfg.path, ": no [yolo] layer: nothing to detect with");
  for (int y : spec.yolo_layers) {
    YOLO4_CHECK(spec.layers[size_t(y)].yolo.classes == spec.num_classes(), cfg.path, ":",
                spec.layers[size_t(y)].line,
                ": [yolo] classes=", spec.layers[size_t(y)].yolo.classes,
                " differs from the first [yolo] layer's ", spec.num_classes());
  }
  infer_shapes(spec, spec.width, spec.height);
  return spec;
}

DarknetCfg builtin_cfg(std::string_view file_name) {
  std::string names;
  for (const EmbeddedCfg& e : embedded_cfgs()) {
    if (e.file_name == file_name) {
      return parse_darknet_cfg_text(std::string(e.text), std::string(file_name) + " (built in)");
    }
    names += (names.empty() ? "" : ", ") + std::string(e.file_name);
  }
  fail("no built-in cfg '", file_name, "': built in are ", names);
}

}  // namespace yolo4
