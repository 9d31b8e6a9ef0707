// yolo4 eval: COCO bbox mAP exactly as pycocotools computes it (or darknet's `detector map`),
// either of an existing results file or of the model, run over the annotated images.
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <thread>
#include <vector>

#include "args.h"
#include "commands.h"
#include "detection_flags.h"
#include "model_flags.h"
#include "yolo4/core/error.h"
#include "yolo4/eval/coco_categories.h"
#include "yolo4/eval/coco_data.h"
#include "yolo4/eval/coco_eval.h"
#include "yolo4/eval/darknet_map.h"
#include "yolo4/output/atomic_file.h"
#include "yolo4/output/json_output.h"
#include "yolo4/output/progress.h"
#include "yolo4/pipeline/detector.h"

namespace yolo4::cli {

namespace {

constexpr int kExitNoWeights = 3;

// What published COCO evaluations run detection with.
constexpr float kEvalConfThreshold = 0.001f;
constexpr int kEvalMaxDetections = 100;

struct EvalOptions {
  std::string annotations;
  std::string results;
  std::string images;
  std::string metric = "coco";
  std::string stats;
  int limit = 0;
  bool quiet = false;
  // Model mode: detect's NMS flags and defaults, with published evaluations' thresholds.
  ModelFlags model;
  DetectionFlags detection{.conf = kEvalConfThreshold, .max_det = kEvalMaxDetections};
};

constexpr const char* kUsage =
    "yolo4 eval --annotations FILE --results FILE [--metric coco|darknet] [--limit N]\n"
    "       [--stats FILE] [--quiet]\n"
    "yolo4 eval --annotations FILE --images DIR [--results OUT.json] [--limit N] [--size N]\n"
    "       [--letterbox] [--nms 0.4] [--nms-kind iou|diou] [--class-agnostic-nms]\n"
    "       [--multi-label] [--scale-xy S] [--metric ...] [--stats FILE] [--quiet] [model flags]";

constexpr const char* kSummary =
    "Scores detections against COCO ground truth and prints the 12-line COCO summary\n"
    "(AP, AP50, AP75, AP small/medium/large, AR@1/10/100, AR small/medium/large), computed\n"
    "as pycocotools' COCOeval computes it for bbox.\n"
    "\n"
    "Without --images, --results is a results file in the standard format\n"
    "([{\"image_id\", \"category_id\", \"bbox\": [x, y, w, h], \"score\"}, ...]) from any\n"
    "engine, and no model is loaded.\n"
    "\n"
    "With --images DIR, the model detects objects in every annotated image (DIR/file_name)\n"
    "as published evaluations do: score threshold 0.001, at most 100 boxes per image, NMS as\n"
    "`yolo4 detect`; the 80 classes become COCO's category ids (1-90) and --results, if given,\n"
    "receives the results file. One detector per core (--threads N: N of them), each running\n"
    "one image at a time on one thread.\n"
    "\n"
    "--metric darknet prints darknet's `detector map` number instead: mAP@0.50 with darknet's\n"
    "matching and all-point AP over every category, which is not COCO's AP50.\n"
    "\n"
    "The --results and --stats files are written whole or not at all (under a temporary name\n"
    "in the same directory, then renamed): a failed or interrupted run leaves the previous\n"
    "file or none.\n"
    "\n"
    "Exit status: 0 scored, 1 an error (unreadable or inconsistent file or image, bad flag),\n"
    "3 --weights auto could not be downloaded.";

bool parse_options(int argc, char** argv, EvalOptions& o) {
  o.model.weights = "auto";
  ArgParser p(kUsage, kSummary);
  p.option("--annotations", "FILE", "COCO instances file, e.g. instances_val2017.json",
           &o.annotations);
  p.option("--results", "FILE",
           "the results file to score; with --images, where to write the model's results",
           &o.results);
  p.option("--images", "DIR", "run the model on the annotated images in DIR", &o.images);
  p.option("--metric", "M", "coco (default: pycocotools' 12 numbers) or darknet (mAP@0.50)",
           &o.metric);
  p.option("--limit", "N", "evaluate only the first N images of the annotations (0: all)", &o.limit,
           0, 1 << 30);
  p.option("--stats", "FILE", "also write the numbers as JSON, at full precision", &o.stats);
  p.flag("--quiet", "no progress bar and no notes; errors are still reported", &o.quiet);
  o.model.add_to(p,
                 "with --images: 'auto' (default: the named model's official weights) or a "
                 ".weights/.pth file");
  o.detection.add_to(p, "with --images: ", /*thresholds=*/false);
  if (!p.parse(argc, argv)) return false;
  YOLO4_CHECK(!o.annotations.empty(), "--annotations FILE is required (see --help)");
  YOLO4_CHECK(!o.results.empty() || !o.images.empty(),
              "give --results FILE to score, or --images DIR to run the model (see --help)");
  o.detection.check();
  YOLO4_CHECK(o.metric == "coco" || o.metric == "darknet", "--metric '", o.metric,
              "': expected coco or darknet");
  YOLO4_CHECK(!o.stats.empty() || !p.given("--stats"), "--stats needs a file name");
  return true;
}

std::string number(double value) {
  char text[32];
  const auto end = std::to_chars(text, text + sizeof(text), value).ptr;
  return std::string(text, end);
}

void write_stats(const std::string& path, const std::string& json) {
  try {
    write_file_atomically(path, json);
  } catch (const Error& e) {
    fail("--stats ", e.what());
  }
}

std::string coco_stats_json(const CocoDataset& dataset, const CocoEvalResult& result) {
  static constexpr const char* kNames[12] = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                             "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};
  std::string json =
      "{\"metric\": \"coco\", \"images\": " + std::to_string(result.images) + ", \"stats\": {";
  for (int i = 0; i < 12; ++i) {
    json += std::string(i ? ", " : "") + "\"" + kNames[i] + "\": " + number(result.stats[i]);
  }
  json += "},\n \"categories\": [";
  for (size_t k = 0; k < result.category_ids.size(); ++k) {
    std::string name;
    for (const CocoCategory& c : dataset.categories) {
      if (c.id == result.category_ids[k]) name = c.name;
    }
    json += std::string(k ? ",\n  " : "\n  ") +
            "{\"id\": " + std::to_string(result.category_ids[k]) +
            ", \"name\": " + json_string(name) + ", \"ap\": " + number(result.category_ap(k)) + "}";
  }
  return json + "]}\n";
}

std::string darknet_stats_json(const DarknetMapResult& result, size_t images) {
  std::string json = "{\"metric\": \"darknet\", \"images\": " + std::to_string(images) +
                     ", \"map50\": " + number(result.map) + ",\n \"categories\": [";
  for (size_t k = 0; k < result.classes.size(); ++k) {
    const DarknetClassAp& c = result.classes[k];
    json += std::string(k ? ",\n  " : "\n  ") + "{\"id\": " + std::to_string(c.category_id) +
            ", \"name\": " + json_string(c.name) + ", \"ap\": " + number(c.ap) + "}";
  }
  return json + "]}\n";
}

// The category id of each of the model's classes: COCO's ids for an 80-class model, otherwise
// the annotations' category of the same name.
std::vector<int64_t> categories_of_classes(const DetectionModel& model, const CocoDataset& dataset,
                                           const std::string& annotations) {
  if (model.num_classes() == int(coco_category_ids().size())) {
    return {coco_category_ids().begin(), coco_category_ids().end()};
  }
  std::vector<int64_t> ids;
  for (const std::string& name : model.class_names()) {
    const CocoCategory* found = nullptr;
    for (const CocoCategory& c : dataset.categories) {
      if (c.name == name) found = &c;
    }
    YOLO4_CHECK(found, "the model's class '", name, "' is not a category of ", annotations,
                " (a model with ", model.num_classes(),
                " classes is matched to the categories by name; --names FILE renames them)");
    ids.push_back(found->id);
  }
  return ids;
}

cv::Mat read_image(const std::string& dir, const CocoImage& image, const std::string& annotations) {
  YOLO4_CHECK(!image.file_name.empty(), annotations, ": image ", image.id,
              " has no 'file_name' (needed with --images)");
  const std::string path = (std::filesystem::path(dir) / image.file_name).string();
  cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
  YOLO4_CHECK(!bgr.empty(), "image ", path, " (id ", image.id, "): cannot read it");
  YOLO4_CHECK((image.width == 0 || image.width == bgr.cols) &&
                  (image.height == 0 || image.height == bgr.rows),
              "image ", path, " (id ", image.id, ") is ", bgr.cols, "x", bgr.rows, " but ",
              annotations, " says ", image.width, "x", image.height);
  return bgr;
}

// Detects objects in the first `count` images: one Detector per worker, all sharing the model,
// each on one thread taking the next image; results in image order whatever the workers.
std::vector<CocoResult> detect_images(const EvalOptions& o, const CocoDataset& dataset,
                                      size_t count) {
  ModelFlags model_flags = o.model;
  model_flags.weights = o.model.resolved_weights("yolo4 eval", o.quiet);
  const auto model = load_detection_model(model_flags.source());
  const std::vector<int64_t> category_of_class =
      categories_of_classes(*model, dataset, o.annotations);

  DetectorOptions settings = o.detection.detector_options(o.model, model->spec());
  settings.threads = 1;
  settings.pinning = ThreadPinning::kFloating;  // single-thread pools would all pin to CPU 0

  const int workers = int(std::min<size_t>(size_t(o.model.thread_count()), count));
  if (!o.quiet) {
    std::cerr << "yolo4 eval: " << model->describe() << ", " << settings.width << "x"
              << settings.height << (o.detection.letterbox ? " letterboxed" : "") << ", " << workers
              << " detector" << (workers > 1 ? "s" : "") << std::endl;
  }
  ProgressOptions bar_options;
  bar_options.label = "eval";
  bar_options.mode = o.quiet ? ProgressMode::kNever : ProgressMode::kAuto;
  ProgressBar bar(int64_t(count), bar_options);

  std::vector<std::vector<CocoResult>> per_image(count);
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;  // the bar and the first error
  std::exception_ptr error;
  auto work = [&] {
    try {
      Detector worker(model, settings);
      for (size_t i; !stop && (i = next++) < count;) {
        const CocoImage& image = dataset.images[i];
        const cv::Mat bgr = read_image(o.images, image, o.annotations);
        for (const Detection& d : worker.detect(bgr, image.file_name)) {
          per_image[i].push_back(coco_result(d, image.id, category_of_class.at(d.class_id)));
        }
        const std::lock_guard lock(mutex);
        bar.advance();
      }
    } catch (...) {
      const std::lock_guard lock(mutex);
      if (!error) error = std::current_exception();
      stop = true;
    }
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int w = 1; w < workers; ++w) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  bar.finish();
  if (error) std::rethrow_exception(error);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::vector<CocoResult> results;
  for (const auto& image_results : per_image) {
    results.insert(results.end(), image_results.begin(), image_results.end());
  }
  if (!o.quiet) {
    char line[160];
    std::snprintf(line, sizeof(line), "%zu images in %.1f s (%.2f images/s), %zu results", count,
                  seconds, double(count) / seconds, results.size());
    std::cerr << "yolo4 eval: " << line << std::endl;
  }
  return results;
}

}  // namespace

int eval_command(int argc, char** argv) {
  EvalOptions o;
  if (!parse_options(argc, argv, o)) return 0;
  AtomicFile::remove_pending_on_termination();
  auto note = [&](const std::string& text) {
    if (!o.quiet) std::cerr << "yolo4 eval: " << text << std::endl;
  };

  const CocoDataset dataset = load_coco_annotations(o.annotations);
  note(o.annotations + ": " + std::to_string(dataset.images.size()) + " images, " +
       std::to_string(dataset.annotations.size()) + " annotations, " +
       std::to_string(dataset.categories.size()) + " categories");
  std::vector<int64_t> image_ids;
  const size_t count =
      o.limit > 0 ? std::min<size_t>(o.limit, dataset.images.size()) : dataset.images.size();
  for (size_t i = 0; i < count; ++i) image_ids.push_back(dataset.images[i].id);
  YOLO4_CHECK(!image_ids.empty(), o.annotations, ": has no images to evaluate");

  std::vector<CocoResult> results;
  if (o.images.empty()) {
    results = load_coco_results(o.results, dataset);
    note(o.results + ": " + std::to_string(results.size()) + " results");
  } else {
    // Created now, to fail before detecting in every image; renamed into place when written.
    std::unique_ptr<AtomicFile> results_file;
    if (!o.results.empty()) {
      try {
        results_file = std::make_unique<AtomicFile>(o.results);
      } catch (const Error& e) {
        fail("results file ", e.what());
      }
    }
    try {
      results = detect_images(o, dataset, count);
    } catch (const WeightsUnavailable& e) {
      std::cerr << "yolo4 eval: the " << o.model.model_name() << " weights are not available.\n"
                << e.what() << "\nOr pass a weights file: --weights FILE (.weights or .pth)."
                << std::endl;
      return kExitNoWeights;
    }
    if (results_file) {
      std::ofstream out(results_file->temp_path(), std::ios::binary);
      write_coco_results(out, results);
      out.close();
      YOLO4_CHECK(out, "results file '", o.results, "': write failed (disk full?)");
      results_file->commit();
      note("wrote " + o.results);
    }
  }

  if (o.metric == "darknet") {
    const DarknetMapResult map = evaluate_darknet_map(dataset, results, image_ids);
    std::cout << format_darknet_map(map) << std::flush;
    if (!o.stats.empty()) write_stats(o.stats, darknet_stats_json(map, image_ids.size()));
    return 0;
  }
  const CocoEvalResult result = evaluate_coco_bbox(dataset, results, image_ids);
  if (result.results_skipped > 0) {
    note(std::to_string(result.results_skipped) +
         " results name a category the annotations do not list; skipped (as pycocotools)");
  }
  std::cout << format_coco_summary(result.stats) << std::flush;
  if (!o.stats.empty()) write_stats(o.stats, coco_stats_json(dataset, result));
  return 0;
}

}  // namespace yolo4::cli
