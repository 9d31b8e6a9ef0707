#include "yolo4/pipeline/detector.h"

#include <chrono>
#include <fstream>

#include "yolo4/core/error.h"
#include "yolo4/io/image_input.h"
#include "yolo4/model/conv_table.h"
#include "yolo4/model/weights.h"
#include "yolo4/ops/layout.h"
#include "yolo4/output/coco_names.h"

namespace yolo4 {
namespace {

bool is_pth(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  YOLO4_CHECK(in, path, ": cannot open the weights file");
  char magic[4] = {};
  in.read(magic, sizeof magic);
  return in && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

bool is_yolov4(const DarknetCfg& cfg) {
  try {
    check_cfg_matches(cfg);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// YOLOv4's layers take the report's names (down1.conv1 ... head.conv18; other layers the module
// of the conv before them), so the profiler and the module tests see Downsample1-5, Neck, Head.
void name_yolov4_layers(NetworkSpec& spec) {
  const auto keys = yolov4_convs();
  size_t next = 0;
  std::string module = "down1";
  for (LayerSpec& l : spec.layers) {
    if (l.kind == LayerKind::kConvolutional) {
      l.name = std::string(keys[next++].key);
      module = l.name.substr(0, l.name.find('.'));
    } else {
      l.name = module + "." + l.name;
    }
  }
}

std::vector<DarknetConvLayout> darknet_layout(const NetworkSpec& spec) {
  std::vector<DarknetConvLayout> layout;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    if (l.kind != LayerKind::kConvolutional) continue;
    const int in = i == 0 ? spec.channels : spec.layers[size_t(l.inputs[0])].output.c;
    layout.push_back({l.name, l.conv.filters,
                      int64_t(l.conv.filters) * (in / l.conv.groups) * l.conv.size * l.conv.size,
                      l.conv.batch_normalize});
  }
  return layout;
}

std::vector<ConvParameters> from_yolov4_weights(const Yolov4Weights& weights) {
  std::vector<ConvParameters> out;
  for (const ConvWeights& c : weights.convs()) out.push_back({c.weight, c.bias});
  return out;
}

std::vector<std::string> read_class_names(const std::string& path, int classes) {
  std::vector<std::string> names;
  if (path.empty()) {
    if (classes == kCocoClasses) {
      for (std::string_view n : coco_names()) names.emplace_back(n);
    } else {
      for (int c = 0; c < classes; ++c) names.push_back("class" + std::to_string(c));
    }
    return names;
  }
  std::ifstream in(path);
  YOLO4_CHECK(in, path, ": cannot open the class names file");
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  YOLO4_CHECK(int(names.size()) == classes, path, ": ", names.size(),
              " class names, but the model has ", classes, " classes (one name per line)");
  return names;
}

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since)
      .count();
}

}  // namespace

DetectionModel::DetectionModel(const ModelSource& source) : source_(source) {
  const DarknetCfg cfg =
      source.cfg.empty() ? builtin_cfg(source.builtin_cfg) : parse_darknet_cfg(source.cfg);
  NetworkSpec spec = parse_network(cfg);
  const bool yolov4 = is_yolov4(cfg);
  if (yolov4) name_yolov4_layers(spec);

  std::vector<ConvParameters> convs;
  const bool pth = !source.weights.empty() && is_pth(source.weights);
  if (source.weights.empty()) {
    convs = yolov4 ? from_yolov4_weights(random_yolov4_weights(1))
                   : random_convs(darknet_layout(spec), 1);
  } else if (pth) {
    YOLO4_CHECK(yolov4, source.weights,
                ": a .pth checkpoint holds YOLOv4 (the report's key "
                "names); ",
                spec.path, " is another network: use darknet .weights for it");
    convs = from_yolov4_weights(load_yolov4_weights(source.weights));
  } else {
    convs = read_darknet_convs(source.weights, darknet_layout(spec), source.options.pack_threads);
  }
  class_names_ = read_class_names(source.names, spec.num_classes());
  for (int y : spec.yolo_layers) {
    const YoloLayerSpec& s = spec.layers[size_t(y)].yolo;
    // The PyTorch model the .pth checkpoints come from decodes without scale_x_y.
    const float scale_xy = pth ? 1.0f : s.scale_xy;
    yolo_layers_.push_back({s.anchors, scale_xy, s.new_coords, s.classes});
  }
  graph_ = std::make_unique<Graph>(std::move(spec), std::move(convs), source.options);
}

std::string DetectionModel::describe() const {
  return spec().path + ", " + (source_.weights.empty() ? "random weights" : source_.weights) +
         ", " + std::to_string(num_classes()) + " classes, " + graph_->options().describe();
}

std::shared_ptr<const DetectionModel> load_detection_model(const ModelSource& source) {
  return std::make_shared<const DetectionModel>(source);
}

Detector::Detector(std::shared_ptr<const DetectionModel> model, const DetectorOptions& options)
    : model_(std::move(model)),
      options_(options),
      width_(options.width > 0 ? options.width : model_->spec().width),
      height_(options.height > 0 ? options.height : model_->spec().height),
      layers_(model_->yolo_layers()),
      device_(options.threads, model_->isa(), options.pinning),
      session_(model_->graph(), device_) {
  model_->graph().validate_input({1, height_, width_, model_->spec().channels});
  YOLO4_CHECK(options.conf_threshold >= 0 && options.conf_threshold < 1, "confidence threshold ",
              options.conf_threshold, " is outside [0, 1)");
  if (options.scale_xy > 0) {
    for (YoloLayer& layer : layers_) layer.scale_xy = options.scale_xy;
  }
}

std::vector<Detection> Detector::detect(const cv::Mat& bgr, const std::string& name) {
  auto start = std::chrono::steady_clock::now();
  const bool letterbox = options_.letterbox.value_or(model_->spec().letterbox);
  const NetworkInput in = make_network_input(
      bgr, width_, height_, letterbox ? ResizeMode::kLetterbox : ResizeMode::kPlain, name);
  const Tensor input = from_nhwc(in.data.data(), {1, height_, width_, 3});
  timings_.preprocess_ms = elapsed_ms(start);

  start = std::chrono::steady_clock::now();
  const std::vector<Tensor>& heads = session_.run(input);
  timings_.network_ms = elapsed_ms(start);

  start = std::chrono::steady_clock::now();
  std::vector<HeadView> views;
  std::vector<std::vector<float>> converted(heads.size());  // only for non-float32 heads
  for (size_t i = 0; i < heads.size(); ++i) {
    const Tensor& head = heads[i];
    const Shape& s = head.shape();
    const int stride = height_ / s.h;
    if (head.dtype() == DataType::FLOAT32) {
      views.push_back(nhwc_head(head.data<float>(), s.h, s.w, int(head.pixel_stride()), stride));
    } else {
      converted[i] = to_nhwc(head);
      views.push_back(nhwc_head(converted[i].data(), s.h, s.w, s.c, stride));
    }
  }
  DecodeOptions decode;
  decode.conf_threshold = options_.conf_threshold;
  decode.labels = options_.labels;
  std::vector<Detection> detections =
      nms(decode_yolo(views, layers_, in.transform, decode), options_.nms);
  timings_.postprocess_ms = elapsed_ms(start);
  return detections;
}

std::vector<Detector::Head> Detector::heads(const std::vector<float>& input_nhwc,
                                            const Shape& input) {
  YOLO4_CHECK(int64_t(input_nhwc.size()) == input.elements(), "heads: ", input_nhwc.size(),
              " input values for a ", to_string(input), " input");
  model_->graph().validate_input(input);
  const std::vector<Tensor>& heads = session_.run(from_nhwc(input_nhwc.data(), input));
  std::vector<Head> out;
  for (const Tensor& t : heads) out.push_back({to_nhwc(t), t.shape()});
  return out;
}

const std::string& Detector::class_name(int class_id) const {
  const auto& names = model_->class_names();
  YOLO4_CHECK(class_id >= 0 && class_id < int(names.size()), "class id ", class_id,
              " is outside 0..", names.size() - 1);
  return names[size_t(class_id)];
}

}  // namespace yolo4
