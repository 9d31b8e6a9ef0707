// yolo4: YOLOv4 object detection on multicore CPUs.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>

#include "commands.h"
#include "yolo4/core/error.h"

namespace {

struct Command {
  std::string_view name;
  int (*run)(int, char**);
  std::string_view summary;
};

constexpr Command kCommands[] = {
    {"detect", yolo4::cli::detect_command, "detect objects in images, directories and videos"},
    {"run", yolo4::cli::run_command, "run one input and dump the raw head outputs as .npy"},
    {"bench", yolo4::cli::bench_command, "time the network: median and min latency, GFLOP/s"},
    {"eval", yolo4::cli::eval_command, "COCO mAP of a model or a results file (as pycocotools)"},
    {"profile", yolo4::cli::profile_command, "per-op perf sheet: CSV with utilisation, SVG plots"},
    {"serve", yolo4::cli::serve_command, "HTTP detection service with a browser page"},
    {"info", yolo4::cli::info_command, "version, CPU features, kernels and what auto picks here"},
};

void print_usage() {
  std::printf(
      "usage: yolo4 COMMAND [options]   (yolo4 COMMAND --help for a command's options)\n"
      "       yolo4 --version\n\n"
      "YOLOv4 object detection on multicore CPUs.\n\ncommands:\n");
  for (const Command& c : kCommands) {
    std::printf("  %-10s %.*s\n", std::string(c.name).c_str(), int(c.summary.size()),
                c.summary.data());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0) {
    std::printf("yolo4 %s\n", YOLO4_VERSION);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (c.name != argv[1]) continue;
    try {
      return c.run(argc, argv);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "yolo4 %s: error: %s\n", argv[1], e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "yolo4: unknown command '%s' (see yolo4 --help)\n", argv[1]);
  return 2;
}
