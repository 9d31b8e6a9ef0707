// yolo4 eval: COCO bbox mAP exactly as pycocotools computes it (or darknet's `detector map`),
// either of an existing results file or of the model, run over the annotated images.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "yolo4/core/error.h"
#include "yolo4/eval/coco_data.h"
#include "yolo4/eval/coco_eval.h"
#include "yolo4/eval/darknet_map.h"
#include "yolo4/output/json_output.h"

namespace yolo4::cli {

namespace {

struct EvalOptions {
  std::string annotations;
  std::string results;
  std::string metric = "coco";
  std::string stats;
  int limit = 0;
  bool quiet = false;
};

constexpr const char* kUsage =
    "yolo4 eval --annotations FILE --results FILE [--metric coco|darknet] [--limit N]\n"
    "       [--stats FILE] [--quiet]";

constexpr const char* kSummary =
    "Scores detections against COCO ground truth and prints the 12-line COCO summary\n"
    "(AP, AP50, AP75, AP small/medium/large, AR@1/10/100, AR small/medium/large), computed\n"
    "as pycocotools' COCOeval computes it for bbox. --results is a results file in the\n"
    "standard format ([{\"image_id\", \"category_id\", \"bbox\": [x, y, w, h], \"score\"}, ...])\n"
    "from any engine.\n"
    "\n"
    "--metric darknet prints darknet's `detector map` number instead: mAP@0.50 with darknet's\n"
    "matching and all-point AP over every category, which is not COCO's AP50.\n"
    "\n"
    "Exit status: 0 scored, 1 an error (unreadable or inconsistent file, bad flag).";

bool parse_options(int argc, char** argv, EvalOptions& o) {
  ArgParser p(kUsage, kSummary);
  p.option("--annotations", "FILE", "COCO instances file, e.g. instances_val2017.json",
           &o.annotations);
  p.option("--results", "FILE", "the results file to score", &o.results);
  p.option("--metric", "M", "coco (default: pycocotools' 12 numbers) or darknet (mAP@0.50)",
           &o.metric);
  p.option("--limit", "N", "evaluate only the first N images of the annotations (0: all)", &o.limit,
           0, 1 << 30);
  p.option("--stats", "FILE", "also write the numbers as JSON, at full precision", &o.stats);
  p.flag("--quiet", "no notes on stderr; errors are still reported", &o.quiet);
  if (!p.parse(argc, argv)) return false;
  YOLO4_CHECK(!o.annotations.empty(), "--annotations FILE is required (see --help)");
  YOLO4_CHECK(!o.results.empty(), "--results FILE is required (see --help)");
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
  std::ofstream out(path, std::ios::binary);
  YOLO4_CHECK(out, "--stats '", path, "': cannot open for writing");
  out << json;
  out.flush();
  YOLO4_CHECK(out, "--stats '", path, "': write failed");
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

}  // namespace

int eval_command(int argc, char** argv) {
  EvalOptions o;
  if (!parse_options(argc, argv, o)) return 0;
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

  const std::vector<CocoResult> results = load_coco_results(o.results, dataset);
  note(o.results + ": " + std::to_string(results.size()) + " results");

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
