// yolo4._core, the native part of the yolo4 Python package: the library Detector as a Python
// class. A Python Detector loads its model once; each call borrows a yolo4::Detector (a device
// and captured session over that shared model) from a pool, so Python threads calling one
// Detector run their inferences at the same time, with the GIL released while they do.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "yolo4/core/device.h"
#include "yolo4/core/error.h"
#include "yolo4/eval/coco_categories.h"
#include "yolo4/io/download.h"
#include "yolo4/io/image_input.h"
#include "yolo4/io/model_zoo.h"
#include "yolo4/pipeline/detector.h"

namespace py = pybind11;

namespace yolo4::python {
namespace {

// ------------------------------------------------------------------------------------------
// Image arguments. They are turned into C++ values while the GIL is held; decoding and
// inference then run without it.

enum class ImageKind { kPixels, kPath, kEncoded };

struct ImageArg {
  ImageArg(ImageKind kind, std::string name) : kind(kind), name(std::move(name)) {}

  ImageKind kind;
  std::string name;  // for error messages: the path, or "image" / "images[i]"
  std::string path;
  std::vector<unsigned char> encoded;
  cv::Mat pixels;    // a view of `array`'s data, which the caller keeps alive
  py::object array;  // destroyed with the GIL held: ImageArgs live outside the released scopes
  bool rgb = false;
};

// 0.45f as the Python float 0.45 rather than 0.44999998807907104.
double shortest_decimal(float value) {
  char text[32];
  const auto end = std::to_chars(text, text + sizeof text, value).ptr;
  return std::stod(std::string(text, end));
}

std::string shape_text(const py::array& array) {
  std::string text = "(";
  for (py::ssize_t i = 0; i < array.ndim(); ++i) {
    text += (i ? ", " : "") + std::to_string(array.shape(i));
  }
  return text + (array.ndim() == 1 ? ",)" : ")");
}

ImageArg pixels_arg(const py::array& array, bool rgb, const std::string& name) {
  if (!array.dtype().is(py::dtype::of<uint8_t>())) {
    throw py::type_error(name + ": expected a uint8 array of shape (H, W, 3), got dtype " +
                         std::string(py::str(array.dtype())));
  }
  if (array.ndim() != 3 || array.shape(2) != 3 || array.shape(0) == 0 || array.shape(1) == 0) {
    throw py::value_error(name + ": expected a uint8 array of shape (H, W, 3) with H, W > 0, got " +
                          shape_text(array));
  }
  // A contiguous view when the array is one, otherwise a contiguous copy (e.g. image[..., ::-1]).
  auto contiguous = py::array_t<uint8_t, py::array::c_style>::ensure(array);
  ImageArg arg{ImageKind::kPixels, name};
  arg.pixels = cv::Mat(int(array.shape(0)), int(array.shape(1)), CV_8UC3,
                       const_cast<uint8_t*>(contiguous.data()));
  arg.array = std::move(contiguous);
  arg.rgb = rgb;
  return arg;
}

ImageArg encoded_arg(const py::handle& buffer, const std::string& name) {
  // bytes() of a bytearray or memoryview copies it contiguously, whatever its strides.
  const auto bytes = py::reinterpret_steal<py::bytes>(PyBytes_FromObject(buffer.ptr()));
  if (!bytes) throw py::error_already_set();
  const std::string_view view = bytes;
  ImageArg arg{ImageKind::kEncoded, name};
  arg.encoded.assign(view.begin(), view.end());
  return arg;
}

// image: a numpy array, a path (str or os.PathLike) or encoded bytes (bytes, bytearray,
// memoryview).
ImageArg image_arg(const py::handle& image, bool rgb, const std::string& name) {
  if (py::isinstance<py::array>(image)) return pixels_arg(image.cast<py::array>(), rgb, name);
  if (py::isinstance<py::str>(image) || py::hasattr(image, "__fspath__")) {
    ImageArg arg{ImageKind::kPath, name};
    arg.path = image.cast<std::filesystem::path>().string();
    arg.name = arg.path;
    return arg;
  }
  if (py::isinstance<py::bytes>(image) || py::isinstance<py::bytearray>(image) ||
      py::isinstance<py::memoryview>(image)) {
    return encoded_arg(image, name);
  }
  throw py::type_error(name +
                       ": expected a uint8 numpy array (H, W, 3), a path or encoded image "
                       "bytes, got " +
                       std::string(py::str(py::type::of(image).attr("__name__"))));
}

// 8-bit BGR pixels, as yolo4::Detector takes them. Runs without the GIL.
cv::Mat bgr_pixels(const ImageArg& arg) {
  switch (arg.kind) {
    case ImageKind::kPath:
      return read_image(arg.path);
    case ImageKind::kEncoded:
      return decode_image(arg.encoded, arg.name);
    case ImageKind::kPixels:
      break;
  }
  if (!arg.rgb) return arg.pixels;
  cv::Mat bgr;
  cv::cvtColor(arg.pixels, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

// ------------------------------------------------------------------------------------------
// Detections as a numpy structured array: one row per detection, best first, with the fields
// class_id (int32), class_name (str), score (float32) and box (float32 x1, y1, x2, y2).

class DetectionArrays {
 public:
  explicit DetectionArrays(const std::vector<std::string>& class_names) {
    py::list names;
    size_t longest = 1;
    for (const std::string& name : class_names) {
      py::str text(name);
      longest = std::max(longest, py::len(text));
      names.append(text);
    }
    const std::string name_format = "<U" + std::to_string(longest);
    py::list fields;
    fields.append(py::make_tuple("class_id", "<i4"));
    fields.append(py::make_tuple("class_name", name_format));
    fields.append(py::make_tuple("score", "<f4"));
    fields.append(py::make_tuple("box", "<f4", py::make_tuple(4)));
    dtype_ = py::dtype::from_args(fields);
    const py::dict layout = dtype_.attr("fields");
    const auto offset = [&](const char* field) {
      return layout[field][py::int_(1)].cast<size_t>();
    };
    class_id_at_ = offset("class_id");
    name_at_ = offset("class_name");
    score_at_ = offset("score");
    box_at_ = offset("box");
    // The names once in numpy's fixed-width UCS-4, copied per detection.
    const py::array encoded = py::module_::import("numpy").attr("array")(names, name_format);
    name_bytes_ = longest * 4;
    const auto* data = static_cast<const char*>(encoded.data());
    encoded_names_.assign(data, data + name_bytes_ * class_names.size());
  }

  const py::dtype& dtype() const { return dtype_; }

  py::array make(const std::vector<Detection>& detections) const {
    py::array out(dtype_, std::vector<py::ssize_t>{py::ssize_t(detections.size())});
    auto* row = static_cast<char*>(out.mutable_data());
    const size_t itemsize = size_t(dtype_.itemsize());
    std::memset(row, 0, itemsize * detections.size());
    for (const Detection& d : detections) {
      const int32_t class_id = d.class_id;
      const float box[4] = {d.x1, d.y1, d.x2, d.y2};
      std::memcpy(row + class_id_at_, &class_id, sizeof class_id);
      std::memcpy(row + name_at_, encoded_names_.data() + size_t(class_id) * name_bytes_,
                  name_bytes_);
      std::memcpy(row + score_at_, &d.score, sizeof d.score);
      std::memcpy(row + box_at_, box, sizeof box);
      row += itemsize;
    }
    return out;
  }

 private:
  py::dtype dtype_;
  size_t class_id_at_ = 0, name_at_ = 0, score_at_ = 0, box_at_ = 0;
  size_t name_bytes_ = 0;
  std::vector<char> encoded_names_;
};

// ------------------------------------------------------------------------------------------
// The Python Detector.

struct DetectorArgs {
  std::optional<std::filesystem::path> weights, cfg, names;
  std::optional<std::string> model;
  std::optional<int> size;
  std::string preset;
  std::optional<int> threads;
  std::optional<float> conf, iou;
  std::optional<int> max_det;
  bool multi_label = false;
  std::optional<bool> letterbox;
  std::string nms;
  std::optional<float> scale_xy;
  bool pin = false;
  bool compact_weights = false;
};

ModelSource model_source(const DetectorArgs& args) {
  YOLO4_CHECK(!args.model || !args.cfg, "give model='", *args.model, "' or cfg, not both");
  const NamedModel& named = named_model(args.model.value_or("yolov4"));
  ModelSource source;
  source.builtin_cfg = std::string(named.cfg_file);
  if (args.weights) {
    source.weights = args.weights->string();
    // As `yolo4 detect --weights auto`: the model's official weights, downloaded once.
    if (source.weights == "auto") source.weights = ensure_weights(named.weights);
  }
  if (args.cfg) source.cfg = args.cfg->string();
  if (args.names) source.names = args.names->string();
  source.options = ModelOptions::preset(args.preset);
  source.options.compact_weights = args.compact_weights;
  return source;
}

DetectorOptions detector_options(const DetectorArgs& args) {
  DetectorOptions options;
  if (args.size) {
    YOLO4_CHECK(*args.size > 0, "size ", *args.size, ": expected a positive network input size");
    options.width = options.height = *args.size;
  }
  options.letterbox = args.letterbox;
  if (args.conf) options.conf_threshold = *args.conf;
  if (args.iou) options.nms.iou_threshold = *args.iou;
  if (args.max_det) options.nms.max_detections = *args.max_det;
  YOLO4_CHECK(args.nms == "iou" || args.nms == "diou", "nms '", args.nms,
              "': expected iou or diou");
  options.nms.kind = args.nms == "diou" ? NmsKind::kDiou : NmsKind::kIou;
  options.labels = args.multi_label ? LabelMode::kMulti : LabelMode::kSingle;
  if (args.scale_xy) options.scale_xy = *args.scale_xy;
  if (args.threads) {
    YOLO4_CHECK(*args.threads > 0, "threads ", *args.threads, ": expected at least 1");
    options.threads = *args.threads;
  }
  // A pinned pool pins the thread that creates it: here the interpreter's thread, and every
  // thread Python starts afterwards would inherit that one CPU.
  options.pinning = args.pin ? ThreadPinning::kPinned : ThreadPinning::kFloating;
  return options;
}

class PyDetector {
 public:
  explicit PyDetector(const DetectorArgs& args) {
    const DetectorOptions options = detector_options(args);
    {
      py::gil_scoped_release release;
      model_ = load_detection_model(model_source(args));
      idle_.push_back(std::make_unique<Detector>(model_, options));
    }
    const Detector& first = *idle_.front();
    options_ = first.options();
    width_ = first.input_width();
    height_ = first.input_height();
    arrays_.emplace(model_->class_names());
    info_ = describe(args);
  }

  py::array detect(const py::handle& image, bool rgb) { return detect_one(image, rgb).first; }

  std::pair<py::array, py::tuple> detect_one(const py::handle& image, bool rgb) {
    const ImageArg arg = image_arg(image, rgb, "image");
    Detected result;
    {
      py::gil_scoped_release release;
      result = with_detector([&](Detector& d) { return run(d, arg); });
    }
    return {arrays_->make(result.detections), py::make_tuple(result.width, result.height)};
  }

  py::list detect_many(const py::iterable& images, bool rgb) {
    std::vector<ImageArg> args;
    for (const py::handle& image : images) {
      args.push_back(image_arg(image, rgb, "images[" + std::to_string(args.size()) + "]"));
    }
    std::vector<Detected> results;
    {
      py::gil_scoped_release release;
      results = with_detector([&](Detector& d) {
        std::vector<Detected> all;
        for (const ImageArg& arg : args) all.push_back(run(d, arg));
        return all;
      });
    }
    py::list out;
    for (const Detected& result : results) out.append(arrays_->make(result.detections));
    return out;
  }

  py::list heads(const py::array& x) {
    if (!x.dtype().is(py::dtype::of<float>())) {
      throw py::type_error("heads: expected a float32 array (N, H, W, 3), got dtype " +
                           std::string(py::str(x.dtype())));
    }
    if (x.ndim() != 4 || x.shape(3) != 3) {
      throw py::value_error("heads: expected a float32 array of shape (N, H, W, 3), got " +
                            shape_text(x));
    }
    const auto contiguous = py::array_t<float, py::array::c_style>::ensure(x);
    const Shape shape{int(x.shape(0)), int(x.shape(1)), int(x.shape(2)), 3};
    std::vector<Detector::Head> heads;
    {
      py::gil_scoped_release release;
      const std::vector<float> input(contiguous.data(), contiguous.data() + contiguous.size());
      heads = with_detector([&](Detector& d) { return d.heads(input, shape); });
    }
    py::list out;
    for (Detector::Head& head : heads) out.append(to_numpy(std::move(head)));
    return out;
  }

  const py::dict& model_info() const { return info_; }
  const py::dtype& detection_dtype() const { return arrays_->dtype(); }
  const std::vector<std::string>& class_names() const { return model_->class_names(); }
  py::tuple input_size() const { return py::make_tuple(width_, height_); }

  py::dict last_timings() const {
    std::lock_guard lock(mutex_);
    py::dict timings;
    timings["preprocess_ms"] = last_timings_.preprocess_ms;
    timings["network_ms"] = last_timings_.network_ms;
    timings["postprocess_ms"] = last_timings_.postprocess_ms;
    return timings;
  }

  std::string repr() const { return "yolo4.Detector(" + model_->describe() + ")"; }

 private:
  struct Detected {
    std::vector<Detection> detections;
    int width = 0, height = 0;  // the image's
  };

  Detected run(Detector& detector, const ImageArg& arg) {
    const cv::Mat bgr = bgr_pixels(arg);
    Detected result{detector.detect(bgr, arg.name), bgr.cols, bgr.rows};
    std::lock_guard lock(mutex_);
    last_timings_ = detector.last_timings();
    return result;
  }

  // Calls fn with a Detector no other thread is using: an idle one, or a new one over the same
  // model when every one is busy. Runs without the GIL.
  template <class Fn>
  std::invoke_result_t<Fn, Detector&> with_detector(Fn&& fn) {
    std::unique_ptr<Detector> detector;
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        detector = std::move(idle_.back());
        idle_.pop_back();
      }
    }
    if (!detector) detector = std::make_unique<Detector>(model_, options_);
    struct GiveBack {
      PyDetector& owner;
      std::unique_ptr<Detector>& detector;
      ~GiveBack() {
        std::lock_guard lock(owner.mutex_);
        owner.idle_.push_back(std::move(detector));
      }
    } give_back{*this, detector};
    return fn(*detector);
  }

  static py::array to_numpy(Detector::Head head) {
    auto* data = new std::vector<float>(std::move(head.data));
    py::capsule owner(data, [](void* p) { delete static_cast<std::vector<float>*>(p); });
    const Shape& s = head.shape;
    return py::array_t<float>({s.n, s.h, s.w, s.c}, data->data(), owner);
  }

  py::dict describe(const DetectorArgs& args) const {
    const ModelSource& source = model_->source();
    py::list layers;
    for (const YoloLayer& layer : model_->yolo_layers()) {
      py::dict entry;
      entry["anchors"] = layer.anchors;
      entry["classes"] = layer.classes;
      entry["scale_xy"] = layer.scale_xy;
      entry["new_coords"] = layer.new_coords;
      layers.append(entry);
    }
    py::dict info;
    info["description"] = model_->describe();
    info["weights"] = source.weights;
    info["cfg"] = source.cfg;
    info["names"] = source.names;
    info["classes"] = model_->num_classes();
    info["input_size"] = py::make_tuple(width_, height_);
    info["preset"] = args.preset;
    info["precision"] = source.options.describe();
    info["letterbox"] = options_.letterbox ? *options_.letterbox : model_->spec().letterbox;
    info["conf"] = shortest_decimal(options_.conf_threshold);
    info["iou"] = shortest_decimal(options_.nms.iou_threshold);
    info["nms"] = options_.nms.kind == NmsKind::kDiou ? "diou" : "iou";
    info["max_det"] = options_.nms.max_detections;
    info["multi_label"] = options_.labels == LabelMode::kMulti;
    info["threads"] = options_.threads > 0 ? options_.threads : default_thread_count();
    info["yolo_layers"] = layers;
    return info;
  }

  std::shared_ptr<const DetectionModel> model_;
  DetectorOptions options_;
  int width_ = 0, height_ = 0;
  std::optional<DetectionArrays> arrays_;
  py::dict info_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Detector>> idle_;
  DetectTimings last_timings_;
};

}  // namespace
}  // namespace yolo4::python

PYBIND11_MODULE(_core, m) {
  using namespace yolo4;
  using yolo4::python::DetectorArgs;
  using yolo4::python::PyDetector;
  m.doc() = "The native part of yolo4: the library Detector (see the yolo4 package).";
  m.attr("__version__") = YOLO4_VERSION;
  py::register_exception<Error>(m, "Error", PyExc_RuntimeError);
  const std::span<const int64_t> categories = coco_category_ids();
  m.attr("COCO_CATEGORY_IDS") =
      py::tuple(py::cast(std::vector<int64_t>(categories.begin(), categories.end())));

  py::class_<PyDetector>(m, "Detector", R"doc(
A YOLO detector: a darknet cfg and its weights, loaded and packed once.

Detector(weights, cfg=None, size=320, preset="auto", threads=None, names=None, *,
         model=None, conf=None, iou=None, max_det=None, multi_label=False, letterbox=None,
         nms="iou", scale_xy=None, pin=False, compact_weights=False)

weights: a darknet .weights file, a YOLOv4 .pth checkpoint, "auto" (the model's official
    weights, downloaded once into ~/.cache/yolo4), or None (deterministic random weights, for
    benchmarks).
cfg: the darknet .cfg; None: the built-in cfg of `model`.
model: a named model with a built-in cfg and official weights ("yolov4", "yolov4-tiny",
    "yolo-fastest-1.1-xl", ... as `yolo4 detect --model`); None: "yolov4". Not with cfg.
size: the network input size (width = height, a multiple of the network's stride); None: the
    cfg's [net] width and height.
preset: "fp32", "bf16", "report", "fast", or "auto" (as the command line's default: the preset
    measured best for this CPU's kernels; model_info["precision"] says what it chose).
threads: the inference threads of each concurrent call; None: one per CPU.
names: a file with one class name per line; None: COCO's for 80 classes, else "class<i>".
conf, iou, max_det: score threshold, NMS IoU threshold and the most boxes kept per image;
    None: the library's defaults (model_info shows the values in use).
multi_label: every class above conf per anchor, not only the best one.
letterbox: keep the aspect ratio and pad (darknet's letter_box); None: as the cfg says.
nms: "iou" or "diou" (darknet's greedy DIoU-NMS).
scale_xy: overrides every [yolo] layer's scale_x_y when given.
pin: pin the inference threads to CPUs. Off by default: the pool pins the thread that creates
    the Detector, and threads Python starts afterwards would inherit its single CPU.
compact_weights: keep bfloat8_b weights ("report", "fast") in memory as their blocks of 16
    sharing an exponent, about half the memory of the bfloat16 values they are otherwise kept
    in, decoded at every use (slower; the same products). As `--compact-weights`.

The Detector is thread-safe. Concurrent calls run at the same time, each on its own session
over the one loaded model (memory for activations grows with the number of concurrent calls);
use threads=1 when many Python threads share the CPUs. The GIL is released while images are
decoded and the network runs.

Errors from the library (unreadable files, corrupt images, bad cfgs) raise yolo4.Error with the
library's message; arguments of the wrong type or shape raise TypeError or ValueError.
)doc")
      .def(py::init([](std::optional<std::filesystem::path> weights,
                       std::optional<std::filesystem::path> cfg, std::optional<int> size,
                       std::string preset, std::optional<int> threads,
                       std::optional<std::filesystem::path> names, std::optional<std::string> model,
                       std::optional<float> conf, std::optional<float> iou,
                       std::optional<int> max_det, bool multi_label, std::optional<bool> letterbox,
                       std::string nms, std::optional<float> scale_xy, bool pin,
                       bool compact_weights) {
             return std::make_unique<PyDetector>(DetectorArgs{.weights = std::move(weights),
                                                              .cfg = std::move(cfg),
                                                              .names = std::move(names),
                                                              .model = std::move(model),
                                                              .size = size,
                                                              .preset = std::move(preset),
                                                              .threads = threads,
                                                              .conf = conf,
                                                              .iou = iou,
                                                              .max_det = max_det,
                                                              .multi_label = multi_label,
                                                              .letterbox = letterbox,
                                                              .nms = std::move(nms),
                                                              .scale_xy = scale_xy,
                                                              .pin = pin,
                                                              .compact_weights = compact_weights});
           }),
           py::arg("weights"), py::arg("cfg") = py::none(), py::arg("size") = 320,
           py::arg("preset") = "auto", py::arg("threads") = py::none(),
           py::arg("names") = py::none(), py::kw_only(), py::arg("model") = py::none(),
           py::arg("conf") = py::none(), py::arg("iou") = py::none(),
           py::arg("max_det") = py::none(), py::arg("multi_label") = false,
           py::arg("letterbox") = py::none(), py::arg("nms") = "iou",
           py::arg("scale_xy") = py::none(), py::arg("pin") = false,
           py::arg("compact_weights") = false)
      .def("detect", &PyDetector::detect, py::arg("image"), py::kw_only(), py::arg("rgb") = false,
           R"doc(
Detects objects in one image.

image: a uint8 numpy array (H, W, 3), BGR as OpenCV gives it (rgb=True: RGB, as PIL and
    matplotlib give it); a path (str or os.PathLike); or encoded image bytes (JPEG, PNG, ...).
    rgb only concerns arrays: files and bytes are decoded to the right order.

Returns a numpy structured array (Detector.detection_dtype), one row per detection, best
first: class_id (int32), class_name (str), score (float32), box (4 float32: x1, y1, x2, y2 in
the image's pixels). E.g. d[d["score"] > 0.5]["box"] is an (N, 4) array.
)doc")
      .def("detect_with_size", &PyDetector::detect_one, py::arg("image"), py::kw_only(),
           py::arg("rgb") = false, R"doc(
detect(), and the image's size: (detections, (width, height)). For paths and bytes, the size
is only known once the library has decoded the image.
)doc")
      .def("detect_many", &PyDetector::detect_many, py::arg("images"), py::kw_only(),
           py::arg("rgb") = false, R"doc(
Detects objects in each image of an iterable (arrays, paths or bytes, as detect takes);
returns a list with one detect() result per image. The first image that fails raises.
)doc")
      .def("heads", &PyDetector::heads, py::arg("x"), R"doc(
The raw head tensors for a network input x: float32 (N, H, W, 3) RGB in [0, 1], H and W
multiples of the network's stride. One float32 array per [yolo] layer in cfg order, NHWC:
(N, H / stride, W / stride, anchors * (5 + classes)).
)doc")
      .def_property_readonly("model_info", &PyDetector::model_info,
                             "What was loaded and how it runs: a dict (description, weights, cfg, "
                             "names, classes, input_size, preset, precision, letterbox, conf, iou, "
                             "nms, max_det, multi_label, threads, yolo_layers).")
      .def_property_readonly("class_names", &PyDetector::class_names,
                             "The class names, indexed by class_id.")
      .def_property_readonly("input_size", &PyDetector::input_size,
                             "The network input (width, height).")
      .def_property_readonly("detection_dtype", &PyDetector::detection_dtype,
                             "The numpy dtype of detect()'s results.")
      .def_property_readonly("last_timings", &PyDetector::last_timings,
                             "Milliseconds in preprocess, network and postprocess of the last "
                             "image any thread detected.")
      .def("__repr__", &PyDetector::repr);
}
