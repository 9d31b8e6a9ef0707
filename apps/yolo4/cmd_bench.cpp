// yolo4 bench: times the network (median and min of N runs after warm-up) on one input.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "commands.h"
#include "model_flags.h"
#include "timing.h"
#include "yolo4/core/cpu_features.h"
#include "yolo4/core/error.h"
#include "yolo4/kernels/peak.h"
#include "yolo4/model/session.h"
#include "yolo4/ops/layout.h"
#include "yolo4/pipeline/detector.h"

namespace yolo4::cli {

namespace {
using Clock = std::chrono::steady_clock;
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct BenchResult {
  double median_ms, min_ms, gflops, startup_ms, peak_gflops;
  size_t arena_bytes, lower_bound_bytes, weight_bytes;
};

void print_json(const Shape& in, const ModelOptions& o, int threads, int runs,
                const BenchResult& r) {
  std::printf(
      "{\"median_ms\": %.3f, \"min_ms\": %.3f, \"gflops\": %.2f, \"size\": %d, \"height\": %d, "
      "\"threads\": %d, "
      "\"runs\": %d, \"dtype\": \"%s\", \"weights_dtype\": \"%s\", \"compact_weights\": %s, "
      "\"fidelity\": \"%s\", "
      "\"approx\": %s, \"winograd\": %s, \"isa\": \"%s\", \"cpu_core\": \"%s\", "
      "\"arena_bytes\": %zu, "
      "\"lower_bound_bytes\": %zu, "
      "\"startup_ms\": %.1f, \"peak_gflops\": %.1f, \"peak_fraction\": %.3f, "
      "\"weight_bytes\": %zu}\n",
      r.median_ms, r.min_ms, r.gflops, in.w, in.h, threads, runs, to_string(o.dtype).data(),
      to_string(o.weights_dtype).data(), o.compact_weights ? "true" : "false",
      to_string(o.math_fidelity).data(), o.math_approx_mode ? "true" : "false",
      o.winograd ? "true" : "false", to_string(o.isa).data(), to_string(cpu_features().core).data(),
      r.arena_bytes, r.lower_bound_bytes, r.startup_ms, r.peak_gflops, r.gflops / r.peak_gflops,
      r.weight_bytes);
}

void print_text(const std::string& network, const Shape& in, const ModelOptions& o, int threads,
                int runs, const BenchResult& r) {
  std::printf("yolo4 bench: %s %dx%d, %d threads, %s, %s kernels, %d runs\n", network.c_str(), in.w,
              in.h, threads, o.describe().c_str(), to_string(o.isa).data(), runs);
  std::printf(
      "  median %.2f ms   min %.2f ms   %.1f GFLOP/s (median), %.0f%% of the measured "
      "%.0f GFLOP/s fp32 FMA peak\n",
      r.median_ms, r.min_ms, r.gflops, 100 * r.gflops / r.peak_gflops, r.peak_gflops);
  std::printf(
      "  activation arena %.1f MB (lower bound %.1f MB)   weights resident %.1f MB   "
      "start-up to first result %.0f ms\n",
      r.arena_bytes / 1e6, r.lower_bound_bytes / 1e6, r.weight_bytes / 1e6, r.startup_ms);
}
// Which shard layout, grid, blocking and algorithm every conv gets at this input size, and why
// (a 3x3 conv's tile: the layer table's row, in brackets).
// A Winograd conv's block counts output tiles, not pixels; its group, the MR-rows of tiles that
// meet each weight panel in turn.
void print_explain(const Graph& graph, const Shape& input, int cores) {
  std::printf("%-34s %-16s %-16s %-15s %-6s %-7s %-5s %-9s %s\n", "conv", "input", "output",
              "layout", "grid", "block", "group", "k-chunk", "why / kernel");
  for (const Graph::ConvPlan& c : graph.explain(input, cores)) {
    const ConvStrategy& s = c.strategy;
    const std::string algorithm = s.winograd == WinogradTile::kNone
                                      ? ""
                                      : std::string("winograd ") + to_string(s.winograd) + " on ";
    const std::string group =
        s.winograd == WinogradTile::kNone ? "-" : std::to_string(s.group_tiles);
    const std::string tile_why = c.winograd_reason.empty() ? "" : " (" + c.winograd_reason + ")";
    std::printf("%-34s %-16s %-16s %-15s %dx%-4d %-7d %-5s %-9d %s / %s%s%s\n", c.name.c_str(),
                to_string(c.input).c_str(), to_string(c.output).c_str(),
                to_string(s.shard_layout).data(), s.grid_rows, s.grid_columns, s.block_pixels,
                group.c_str(), s.chunk_kblocks * 16, std::string(s.reason).c_str(),
                algorithm.c_str(), c.kernel.c_str(), tile_why.c_str());
  }
}
}  // namespace

int bench_command(int argc, char** argv) {
  const Clock::time_point start = Clock::now();
  ModelFlags flags;
  int runs = 20, warmup = 3;
  bool json = false, explain = false;
  ArgParser p(
      "yolo4 bench [--weights FILE] [--cfg FILE] [--size N] [--threads N] [--runs N] "
      "[--warmup N] [--json] [--explain]",
      "Times inference of the network (YOLOv4 by default, or any --cfg) on the replayed plan\n"
      "(no allocation) and prints median and min latency and GFLOP/s.");
  flags.add_to(p, "weights (.pth or darknet .weights); default: random weights");
  p.option("--runs", "N", "timed runs (default 20)", &runs, 1, 100000);
  p.option("--warmup", "N", "untimed runs first (default 3)", &warmup, 0, 100000);
  p.flag("--json", "print one JSON object instead of text", &json);
  p.flag("--explain", "print the shard layout and blocking every conv gets, and why", &explain);
  if (!p.parse(argc, argv)) return 0;

  const auto loaded = load_detection_model(flags.source());
  const Graph& model = loaded->graph();
  const ModelOptions& options = model.options();
  const int threads = flags.thread_count();
  Device device(threads, model.isa(), flags.pinning());
  InferenceSession session(model, device);
  const auto [width, height] = flags.input_size(model.spec());
  const Tensor input = random_input(width, height);
  model.validate_input(input.shape());
  if (explain) {
    if (flags.preset == "auto") {
      const AutoPreset chosen = auto_preset(options.isa);
      std::printf("preset auto on %s kernels: %s, because %s\n", to_string(options.isa).data(),
                  chosen.name().c_str(), std::string(chosen.why).c_str());
    }
    print_explain(model, input.shape(), threads);
  }

  BenchResult r{};
  session.run(input);
  r.startup_ms = ms_between(start, Clock::now());
  for (int i = 0; i < warmup; ++i) session.run(input);
  std::vector<double> times;
  for (int i = 0; i < runs; ++i) {
    const Clock::time_point t0 = Clock::now();
    session.run(input);
    times.push_back(ms_between(t0, Clock::now()));
  }
  r.median_ms = median(times);
  r.min_ms = *std::min_element(times.begin(), times.end());
  r.gflops = model.flops(input.shape()) / (r.median_ms * 1e-3) * 1e-9;
  r.peak_gflops = measure_f32_fma_peak(device).total_gflops;
  r.arena_bytes = session.arena_bytes();
  r.weight_bytes = model.weight_bytes();
  r.lower_bound_bytes = session.lower_bound_bytes();
  if (json) {
    print_json(input.shape(), options, threads, runs, r);
  } else {
    print_text(model.spec().path, input.shape(), options, threads, runs, r);
  }
  return 0;
}

}  // namespace yolo4::cli
