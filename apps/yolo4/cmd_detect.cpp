// yolo4 detect: images, directories of images and videos in; boxes out as a JSON list, annotated
// copies, or a readable summary. The model is loaded and packed once; every input then goes
// through preprocess -> network -> decode -> NMS on one device. A bad input is reported in one
// line naming it and the others still run; the exit code says whether any input failed.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "commands.h"
#include "detection_flags.h"
#include "model_flags.h"
#include "yolo4/core/error.h"
#include "yolo4/io/download.h"
#include "yolo4/io/image_input.h"
#include "yolo4/ops/layout.h"
#include "yolo4/output/atomic_file.h"
#include "yolo4/output/coco_names.h"
#include "yolo4/output/draw.h"
#include "yolo4/output/json_output.h"
#include "yolo4/output/progress.h"
#include "yolo4/pipeline/detector.h"
#include "yolo4/postprocess/nms.h"
#include "yolo4/postprocess/yolo_decode.h"

namespace yolo4::cli {

namespace {

namespace fs = std::filesystem;

// Exit codes (also in --help).
constexpr int kExitOk = 0;
constexpr int kExitInputFailed = 1;
constexpr int kExitNoWeights = 3;

// ------------------------------------------------------------------------------------------
// Options

struct DetectOptions {
  ModelFlags model;
  DetectionFlags detection;
  std::string json;  // "-" is stdout
  std::string out;
  bool quiet = false;
  std::vector<std::string> inputs;
};

constexpr const char* kUsage =
    "yolo4 detect [--model NAME | --cfg FILE] [--weights FILE|auto] [--names FILE] [--size N]\n"
    "       [--conf 0.3] [--nms 0.4]\n"
    "       [--nms-kind iou|diou] [--max-det N] [--multi-label] [--scale-xy S] [--letterbox]\n"
    "       [--json FILE|-] [--out DIR] [--quiet] [model flags] INPUT...";

constexpr const char* kSummary =
    "Detects objects in images, directories of images and videos: the 80 COCO classes with\n"
    "YOLOv4 (the default), or the classes of any darknet model given by --cfg, --weights\n"
    "and --names.\n"
    "Writes annotated copies to --out DIR (same file names; videos as .mp4 or .avi at the\n"
    "input's frame rate) and a JSON list with one object per image or video frame to --json.\n"
    "With neither, prints a summary per image to stdout.\n"
    "\n"
    "--weights auto (the default) uses the official weights of --model (yolov4: yolov4.weights,\n"
    "~258 MB), downloaded once on first use into $XDG_CACHE_HOME/yolo4 (~/.cache/yolo4) and\n"
    "checked against their SHA-256; YOLO4_WEIGHTS_URL names a mirror for yolov4.weights. A\n"
    "--cfg of your own needs --weights FILE. Darknet weights decode with the cfg's scale_x_y\n"
    "(yolov4.cfg: 1.2, 1.1, 1.05), .pth checkpoints with 1.0; --scale-xy overrides that.\n"
    "\n"
    "A bad input (unreadable, not an image, truncated...) is reported on stderr in one line\n"
    "naming it; the others still run and the JSON lists them. The JSON file and the annotated\n"
    "copies are written whole or not at all (under a temporary name in the same directory,\n"
    "then renamed): a failed or interrupted run leaves the previous file or none.\n"
    "\n"
    "Exit status: 0 every input was processed, 1 an input failed (the others still ran) or\n"
    "another error, 3 the weights could not be downloaded.";

// Returns false when --help was printed.
bool parse_options(int argc, char** argv, DetectOptions& o) {
  o.model.weights = "auto";
  ArgParser p(kUsage, kSummary);
  o.model.add_to(p,
                 "'auto' (default: the --model's official weights, see above) or a .weights/.pth");
  o.detection.add_to(p, "", /*thresholds=*/true);
  p.option("--json", "FILE", "write the detections as a JSON list to FILE ('-': stdout)", &o.json);
  p.option("--out", "DIR", "write annotated copies of the inputs into DIR (created)", &o.out);
  p.flag("--quiet", "no progress bar and no notes; errors are still reported", &o.quiet);
  p.positionals("INPUT", "image files, directories (their images), video files", &o.inputs);
  if (!p.parse(argc, argv)) return false;

  YOLO4_CHECK(!o.inputs.empty(), "no INPUT given (see --help)");
  o.detection.check();
  YOLO4_CHECK(!o.model.weights.empty(), "--weights needs a file, or 'auto'");
  YOLO4_CHECK(o.model.cfg.empty() || o.model.weights != "auto", "--cfg ", o.model.cfg,
              " needs --weights FILE ('auto' weights exist for --model NAME only)");
  YOLO4_CHECK(!o.out.empty() || !p.given("--out"), "--out needs a directory");
  YOLO4_CHECK(!o.json.empty() || !p.given("--json"), "--json needs a file name or '-'");
  o.model.options();  // checks --size and the precision flags before anything slow happens
  return true;
}

// ------------------------------------------------------------------------------------------
// Messages on stderr: failures always, notes unless --quiet. Both start by clearing the line a
// progress bar may be drawn on (bars only draw on a terminal and without --quiet).

class Reporter {
 public:
  explicit Reporter(bool quiet) : quiet_(quiet), bar_line_(!quiet && stderr_is_terminal()) {}

  // `what` is an error message; the leading "image PATH: " the image reader puts there is
  // dropped, since the line already starts with the input.
  void failure(const std::string& input, std::string what) {
    for (const std::string& prefix :
         {"image " + input + ": ", "video " + input + ": ", input + ": "}) {
      if (what.rfind(prefix, 0) == 0) what.erase(0, prefix.size());
    }
    std::replace(what.begin(), what.end(), '\n', ' ');
    print("yolo4 detect: " + input + ": " + what);
    ++failures_;
  }
  void note(const std::string& message) {
    if (!quiet_) print("yolo4 detect: " + message);
  }
  int failures() const { return failures_; }
  bool quiet() const { return quiet_; }

 private:
  void print(const std::string& line) const {
    std::cerr << (bar_line_ ? "\r\x1b[K" : "") << line << std::endl;
  }
  bool quiet_;
  bool bar_line_;
  int failures_ = 0;
};

// ------------------------------------------------------------------------------------------
// Inputs: files as given, directories expanded to their images in name order.

enum class InputKind { kImage, kVideo };

struct Input {
  std::string path;
  InputKind kind;
};

std::string lower_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

// What OpenCV's imread and videoio read here (OpenCV 4.6 has no GIF reader).
bool is_image_name(const fs::path& path) {
  static const std::set<std::string> kImage = {".jpg", ".jpeg", ".jpe", ".png",  ".bmp",
                                               ".dib", ".webp", ".tif", ".tiff", ".pbm",
                                               ".pgm", ".ppm",  ".pnm", ".jp2"};
  return kImage.count(lower_extension(path)) > 0;
}

bool is_video_name(const fs::path& path) {
  static const std::set<std::string> kVideo = {".mp4", ".avi",  ".mov", ".mkv", ".webm", ".m4v",
                                               ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",  ".ts"};
  return kVideo.count(lower_extension(path)) > 0;
}

// The images of a directory (not its subdirectories), sorted; other files get a note.
void expand_directory(const std::string& dir, std::vector<Input>& inputs, Reporter& reporter) {
  std::vector<fs::path> images;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& path = it->path();
    if (path.filename().string().starts_with(".")) continue;  // hidden files
    std::error_code type_ec;
    if (it->is_directory(type_ec)) {
      reporter.note("skipping " + path.string() +
                    ": a subdirectory (directories are not "
                    "searched recursively)");
    } else if (is_image_name(path)) {
      images.push_back(path);
    } else {
      reporter.note("skipping " + path.string() + ": not an image file" +
                    (is_video_name(path) ? " (pass videos by name)" : ""));
    }
  }
  if (ec) {
    reporter.failure(dir, "cannot list the directory (" + ec.message() + ")");
    return;
  }
  if (images.empty()) {
    reporter.failure(dir, "the directory contains no images");
    return;
  }
  std::sort(images.begin(), images.end());
  for (const fs::path& p : images) inputs.push_back({p.string(), InputKind::kImage});
}

std::vector<Input> expand_inputs(const std::vector<std::string>& args, Reporter& reporter) {
  std::vector<Input> inputs;
  for (const std::string& arg : args) {
    std::error_code ec;
    const fs::file_status status = fs::status(arg, ec);
    if (arg == "-") {
      reporter.failure(arg, "reading images from stdin is not supported; pass file names");
    } else if (!fs::exists(status)) {
      reporter.failure(arg, "no such file or directory");
    } else if (fs::is_directory(status)) {
      expand_directory(arg, inputs, reporter);
    } else {
      inputs.push_back({arg, is_video_name(arg) ? InputKind::kVideo : InputKind::kImage});
    }
  }
  return inputs;
}

// ------------------------------------------------------------------------------------------
// Outputs: the JSON list, annotated copies, the readable summary.

class Outputs {
 public:
  Outputs(const DetectOptions& o, const std::vector<Input>& inputs, Reporter& reporter)
      : reporter_(reporter), out_dir_(o.out), names_(coco_names().begin(), coco_names().end()) {
    for (const Input& input : inputs) inputs_.insert(path_key(input.path));
    if (!out_dir_.empty()) {
      std::error_code ec;
      fs::create_directories(out_dir_, ec);
      YOLO4_CHECK(!ec && fs::is_directory(out_dir_), "--out ", out_dir_,
                  ": cannot create the directory (", ec ? ec.message() : "not a directory", ")");
    }
    if (o.json == "-") {
      json_stream_ = &std::cout;
    } else if (!o.json.empty()) {
      YOLO4_CHECK(!inputs_.count(path_key(o.json)), "--json ", o.json,
                  " is one of the inputs; give the JSON another name");
      const fs::path parent = fs::path(o.json).parent_path();
      std::error_code ec;
      if (!parent.empty()) fs::create_directories(parent, ec);
      try {
        json_file_ = std::make_unique<AtomicFile>(o.json);
      } catch (const Error& e) {
        fail("--json ", e.what());
      }
      json_out_.open(json_file_->temp_path());
      YOLO4_CHECK(json_out_.is_open(), "--json ", o.json, ": cannot open it for writing");
      json_stream_ = &json_out_;
      json_path_ = o.json;
    }
    summary_ = o.json.empty() && o.out.empty();
  }

  bool summary() const { return summary_; }
  // The model's class names, for the JSON, the summary and the drawn labels.
  void set_class_names(const std::vector<std::string>& names) {
    names_.assign(names.begin(), names.end());
  }
  std::span<const std::string_view> names() const { return names_; }
  bool writes_images() const { return !out_dir_.empty(); }

  void add(const ImageResult& result) {
    if (json_stream_) json().write(result);
    if (summary_) print_summary(result, names_);
    ++results_;
    objects_ += int64_t(result.detections.size());
  }

  // Where the annotated copy of `input` goes: out/<file name>, with "-1", "-2", ... added when
  // another output of this run or any input has that path (inputs are never overwritten).
  std::string annotated_path(const std::string& input, const std::string& extension) {
    const fs::path wanted =
        (fs::path(out_dir_) / fs::path(input).filename()).replace_extension(extension);
    fs::path target = wanted;
    for (int n = 1; used_.count(path_key(target)) || inputs_.count(path_key(target)); ++n) {
      target.replace_filename(wanted.stem().string() + "-" + std::to_string(n) + extension);
    }
    if (target != wanted) {
      reporter_.note(input + ": " + wanted.string() +
                     " is an input or another output; the "
                     "annotated copy is " +
                     target.string());
    }
    used_.insert(path_key(target));
    return target.string();
  }

  // Encoded in the input's format (else PNG) and written atomically.
  void write_image(const std::string& input, const cv::Mat& annotated) {
    std::string path = annotated_path(input, fs::path(input).extension().string());
    std::vector<uchar> bytes;
    if (!encode(path, annotated, bytes)) {  // a format OpenCV reads but cannot write
      used_.erase(path_key(path));
      path = annotated_path(input, ".png");
      if (!encode(path, annotated, bytes)) {
        reporter_.failure(input, "cannot encode the annotated copy " + path);
        return;
      }
    }
    try {
      write_file_atomically(path, {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
    } catch (const Error& e) {
      reporter_.failure(input, std::string("annotated copy ") + e.what());
    }
  }

  // Closes the JSON list, puts the JSON file in place, and says where things went.
  void finish(int failures) {
    if (json_stream_) json().close();
    if (json_file_) {
      json_out_.close();
      try {
        YOLO4_CHECK(json_out_, json_path_, ": error writing the JSON file");
        json_file_->commit();
      } catch (const Error& e) {
        reporter_.failure(json_path_, e.what());
      }
    }
    std::string where;
    if (!out_dir_.empty()) where += "; annotated copies in " + out_dir_;
    if (!json_path_.empty()) where += "; JSON in " + json_path_;
    reporter_.note(std::to_string(objects_) + " object(s) in " + std::to_string(results_) +
                   " image(s)/frame(s), " + std::to_string(failures) + " input(s) failed" + where);
  }

 private:
  // Started with the first result, so that a fatal error before it (e.g. no weights) leaves
  // stdout empty.
  JsonListWriter& json() {
    if (!json_) json_ = std::make_unique<JsonListWriter>(*json_stream_, names_);
    return *json_;
  }

  static bool encode(const std::string& path, const cv::Mat& image, std::vector<uchar>& bytes) {
    try {
      return cv::imencode(fs::path(path).extension().string(), image, bytes);
    } catch (const cv::Exception&) {
      return false;
    }
  }

  // Two spellings of one file give the same key.
  static std::string path_key(const fs::path& path) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(path, ec);
    return (ec ? path : canonical).string();
  }

  static void print_summary(const ImageResult& r, std::span<const std::string_view> names) {
    std::printf("%s", r.image.c_str());
    if (r.frame) std::printf(" frame %lld", static_cast<long long>(*r.frame));
    std::printf(" (%dx%d): %zu object%s\n", r.width, r.height, r.detections.size(),
                r.detections.size() == 1 ? "" : "s");
    for (const Detection& d : r.detections) {
      std::printf("  %-16s %.3f   box x1=%.0f y1=%.0f x2=%.0f y2=%.0f\n",
                  class_name(names, d.class_id).c_str(), double(d.score), double(d.x1),
                  double(d.y1), double(d.x2), double(d.y2));
    }
    std::fflush(stdout);
  }

  Reporter& reporter_;
  std::string out_dir_;
  std::unique_ptr<AtomicFile> json_file_;  // --json FILE: renamed into place by finish()
  std::ofstream json_out_;                 // its temporary file
  std::string json_path_;
  std::ostream* json_stream_ = nullptr;  // null: no --json
  std::unique_ptr<JsonListWriter> json_;
  bool summary_ = false;
  std::set<std::string> inputs_, used_;  // path_key()s
  std::vector<std::string_view> names_;  // views of the model's names
  int64_t results_ = 0, objects_ = 0;
};

// ------------------------------------------------------------------------------------------
// The per-input pipelines.

ProgressMode progress_mode(const Reporter& reporter, const Outputs& outputs) {
  // The summary already prints a line per image; a bar would only interleave with it.
  return reporter.quiet() || outputs.summary() ? ProgressMode::kNever : ProgressMode::kAuto;
}

// Failures are reported and counted by the reporter.
void process_image(const std::string& path, Detector& detector, Outputs& outputs,
                   Reporter& reporter) {
  try {
    cv::Mat image = read_image(path);
    ImageResult result{path, std::nullopt, image.cols, image.rows, detector.detect(image, path)};
    outputs.add(result);
    if (outputs.writes_images()) {
      draw_detections(image, result.detections, outputs.names());
      outputs.write_image(path, image);
    }
  } catch (const Error& e) {
    reporter.failure(path, e.what());
  } catch (const cv::Exception& e) {
    reporter.failure(path, std::string("OpenCV: ") + e.what());
  }
}

// An annotated video: frames go to a temporary file, renamed into place once complete. (Members
// in this order: the writer closes before the file is renamed or removed.)
struct VideoOutput {
  std::unique_ptr<AtomicFile> file;
  cv::VideoWriter writer;
};

// Opens the annotated video next to the first frame: .avi (MJPG) for .avi inputs, otherwise .mp4
// (MPEG-4 part 2), falling back to .avi when this OpenCV cannot write .mp4.
VideoOutput open_video_output(const std::string& input, const cv::Size& size, double fps,
                              Outputs& outputs, Reporter& reporter) {
  const bool avi = lower_extension(input) == ".avi";
  struct Choice {
    const char* extension;
    int fourcc;
  };
  const Choice mp4{".mp4", cv::VideoWriter::fourcc('m', 'p', '4', 'v')};
  const Choice mjpg{".avi", cv::VideoWriter::fourcc('M', 'J', 'P', 'G')};
  for (const Choice& c : avi ? std::vector<Choice>{mjpg} : std::vector<Choice>{mp4, mjpg}) {
    auto file = std::make_unique<AtomicFile>(outputs.annotated_path(input, c.extension));
    cv::VideoWriter writer(file->temp_path(), cv::CAP_FFMPEG, c.fourcc, fps, size);
    if (writer.isOpened()) return {std::move(file), writer};
  }
  reporter.failure(input, "cannot open a video writer (MPEG-4 .mp4 or MJPG .avi) in --out");
  return {};
}

// Every frame: detections to the outputs, annotated frames to the video writer.
void process_video(const std::string& path, Detector& detector, Outputs& outputs,
                   Reporter& reporter) {
  try {
    cv::VideoCapture capture(path, cv::CAP_FFMPEG);
    YOLO4_CHECK(capture.isOpened(), "video ", path,
                ": cannot open it (not a video, or a format or codec this OpenCV cannot read)");
    double fps = capture.get(cv::CAP_PROP_FPS);
    if (!(fps > 0 && fps < 1000)) {
      reporter.note(path + ": the video does not say its frame rate; writing at 25 FPS");
      fps = 25;
    }
    const double count = capture.get(cv::CAP_PROP_FRAME_COUNT);
    ProgressOptions bar_options;
    bar_options.label = fs::path(path).filename().string();
    bar_options.rate_unit = "FPS";
    bar_options.mode = progress_mode(reporter, outputs);
    ProgressBar bar(count > 0 ? int64_t(count) : 0, bar_options);

    VideoOutput video;
    cv::Mat frame;
    int64_t index = 0;
    for (; capture.read(frame) && !frame.empty(); ++index) {
      ImageResult result{path, index, frame.cols, frame.rows,
                         detector.detect(frame, path + " frame " + std::to_string(index))};
      outputs.add(result);
      if (outputs.writes_images()) {
        if (index == 0) video = open_video_output(path, frame.size(), fps, outputs, reporter);
        if (!video.writer.isOpened()) return;  // reported by open_video_output
        draw_detections(frame, result.detections, outputs.names());
        video.writer.write(frame);
      }
      bar.advance();
    }
    if (bar.enabled()) bar.set_total(index);
    bar.finish();
    YOLO4_CHECK(index > 0, "video ", path, ": no frame could be decoded");
    if (video.writer.isOpened()) {
      video.writer.release();
      video.file->commit();
    }
  } catch (const Error& e) {
    reporter.failure(path, e.what());
  } catch (const cv::Exception& e) {
    reporter.failure(path, std::string("OpenCV: ") + e.what());
  }
}

// Inputs in the given order; each run of consecutive images shares one progress bar (images/s),
// each video has its own (FPS).
void process_inputs(const std::vector<Input>& inputs, Detector& detector, Outputs& outputs,
                    Reporter& reporter) {
  for (size_t i = 0; i < inputs.size();) {
    if (inputs[i].kind == InputKind::kVideo) {
      process_video(inputs[i++].path, detector, outputs, reporter);
      continue;
    }
    size_t end = i;
    while (end < inputs.size() && inputs[end].kind == InputKind::kImage) ++end;
    ProgressOptions bar_options;
    bar_options.rate_unit = "images/s";
    bar_options.mode = end - i > 1 ? progress_mode(reporter, outputs) : ProgressMode::kNever;
    ProgressBar bar(int64_t(end - i), bar_options);
    for (; i < end; ++i) {
      process_image(inputs[i].path, detector, outputs, reporter);
      bar.advance();
    }
  }
}

}  // namespace

int detect_command(int argc, char** argv) {
  DetectOptions o;
  if (!parse_options(argc, argv, o)) return kExitOk;
  // Broken files make OpenCV and FFmpeg log of their own; the failure line says it all. (FFmpeg's
  // level is read when OpenCV first opens a video; -8 is AV_LOG_QUIET.)
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_ERROR);
  ::setenv("OPENCV_FFMPEG_LOGLEVEL", "-8", /*overwrite=*/0);

  AtomicFile::remove_pending_on_termination();
  Reporter reporter(o.quiet);
  const std::vector<Input> inputs = expand_inputs(o.inputs, reporter);
  if (inputs.empty()) {
    std::cerr << "yolo4 detect: no input left to process" << std::endl;
    return kExitInputFailed;
  }
  Outputs outputs(o, inputs, reporter);  // before the model: a bad --out or --json fails fast

  std::string weights_path;
  try {
    weights_path = o.model.resolved_weights("yolo4 detect", reporter.quiet());
  } catch (const WeightsUnavailable& e) {
    std::cerr << "yolo4 detect: the " << o.model.model_name() << " weights are not available.\n"
              << e.what() << "\nOr pass a weights file: --weights FILE (.weights or .pth)."
              << std::endl;
    return kExitNoWeights;
  }
  ModelFlags model_flags = o.model;
  model_flags.weights = weights_path;
  const auto model = load_detection_model(model_flags.source());
  outputs.set_class_names(model->class_names());
  DetectorOptions settings = o.detection.detector_options(o.model, model->spec());
  settings.threads = o.model.thread_count();
  settings.pinning = o.model.pinning();
  Detector detector(model, settings);

  process_inputs(inputs, detector, outputs, reporter);
  outputs.finish(reporter.failures());
  return reporter.failures() > 0 ? kExitInputFailed : kExitOk;
}

}  // namespace yolo4::cli
