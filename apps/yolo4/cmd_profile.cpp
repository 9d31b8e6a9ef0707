// yolo4 profile: the perf sheet. Per-op durations (median of N profiled runs), the report's
// utilisation formula against the measured product peaks and read bandwidth, a CSV, and SVG
// plots; --compare puts two sheets side by side.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "commands.h"
#include "model_flags.h"
#include "timing.h"
#include "yolo4/core/error.h"
#include "yolo4/kernels/peak.h"
#include "yolo4/model/session.h"
#include "yolo4/ops/layout.h"
#include "yolo4/pipeline/detector.h"
#include "yolo4/profile/plots.h"
#include "yolo4/profile/profiler.h"

namespace yolo4::cli {

namespace {
using Clock = std::chrono::steady_clock;
using profile::OpRow;

double ns_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::nano>(b - a).count();
}

struct Timings {
  std::vector<double> unprofiled_ns, profiled_ns;
};

// Alternates unprofiled and profiled runs so that both see the same machine load.
Timings time_runs(Device& device, InferenceSession<Graph>& session, const Tensor& input, int runs,
                  profile::OpCollector& collector) {
  Timings t;
  for (int i = 0; i < runs; ++i) {
    Clock::time_point t0 = Clock::now();
    session.run(input);
    t.unprofiled_ns.push_back(ns_between(t0, Clock::now()));
    device.set_observer(&collector);
    t0 = Clock::now();
    session.run(input);
    t.profiled_ns.push_back(ns_between(t0, Clock::now()));
    device.set_observer(nullptr);
    collector.end_run();
  }
  return t;
}

std::string signed_percent(double value, double reference) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%+.1f%%", 100 * (value - reference) / reference);
  return buffer;
}

void print_summary(const Timings& t, const std::vector<OpRow>& rows) {
  const double unprofiled = median(t.unprofiled_ns), profiled = median(t.profiled_ns);
  const double sum = profile::total_duration_ns(rows);
  std::printf(
      "  unprofiled median %.2f ms | profiled runs median %.2f ms (%s) | sum of op "
      "medians %.2f ms (%s vs unprofiled; the rest is time between ops)\n",
      unprofiled * 1e-6, profiled * 1e-6, signed_percent(profiled, unprofiled).c_str(), sum * 1e-6,
      signed_percent(sum, unprofiled).c_str());
  if (std::fabs(profiled - unprofiled) > 0.05 * unprofiled) {
    std::printf(
        "  note: profiled and unprofiled runs differ by more than 5%%: a busy machine, or "
        "too few --runs to tell\n");
  }
}

void print_slowest(const std::vector<OpRow>& rows, size_t n) {
  if (n == 0) return;  // --top 0: the sheet alone
  const std::vector<OpRow> top = profile::slowest(rows, n);
  const double total = profile::total_duration_ns(rows);
  std::printf("  %zu slowest ops:\n", top.size());
  std::printf("  %4s %5s  %-31s %-10s %-14s %5s %9s %6s %8s %7s %7s\n", "rank", "index", "path",
              "op", "output", "cores", "ms", "share", "GFLOP", "util", "dram");
  for (size_t i = 0; i < top.size(); ++i) {
    const OpRow& r = top[i];
    std::printf("  %4zu %5d  %-31s %-10s %-14s %5d %9.3f %5.1f%% %8.3f %6.1f%% %6.1f%%\n", i + 1,
                r.index, r.path.c_str(), r.op.c_str(), r.output_shape.c_str(), r.cores,
                double(r.duration_ns) * 1e-6, 100 * double(r.duration_ns) / total, r.flops * 1e-9,
                r.utilisation, r.dram_utilisation);
  }
}

void print_shares(const char* title, const std::vector<profile::TimeShare>& shares, double total) {
  std::printf("  %s:", title);
  for (const profile::TimeShare& s : shares) {
    std::printf("  %s %.2f ms (%.0f%%)", s.key.c_str(), s.duration_ns * 1e-6,
                100 * s.duration_ns / total);
  }
  std::printf("\n");
}

// --- compare -----------------------------------------------------------------------------------

std::string sheet_label(const std::string& path, const std::string& other) {
  const std::filesystem::path p(path), q(other);
  return p.filename() == q.filename() ? path : p.stem().string();
}

void print_compare_row(const std::string& key, double a, double b) {
  char ratio[32] = "-";
  if (a > 0) std::snprintf(ratio, sizeof ratio, "%.2fx", b / a);
  std::printf("  %-14s %10.2f %10.2f %8s\n", key.c_str(), a * 1e-6, b * 1e-6, ratio);
}

void print_compare(const std::vector<profile::TimeShare>& a,
                   const std::vector<profile::TimeShare>& b, const char* what) {
  std::printf("  %-14s %10s %10s %8s\n", what, "A ms", "B ms", "B/A");
  std::vector<std::string> keys;
  for (const auto* shares : {&a, &b}) {
    for (const profile::TimeShare& s : *shares) {
      if (std::find(keys.begin(), keys.end(), s.key) == keys.end()) keys.push_back(s.key);
    }
  }
  auto value = [](const std::vector<profile::TimeShare>& shares, const std::string& key) {
    for (const profile::TimeShare& s : shares) {
      if (s.key == key) return s.duration_ns;
    }
    return 0.0;
  };
  for (const std::string& key : keys) print_compare_row(key, value(a, key), value(b, key));
}

int compare_command(const std::vector<std::string>& files, const std::string& plot) {
  YOLO4_CHECK(files.size() == 2, "--compare takes two perf sheets (A.csv B.csv), got ",
              files.size());
  const std::vector<OpRow> a = profile::read_csv_file(files[0]);
  const std::vector<OpRow> b = profile::read_csv_file(files[1]);
  const profile::SheetInfo ai{sheet_label(files[0], files[1]), profile::sheet_config(a), 0};
  const profile::SheetInfo bi{sheet_label(files[1], files[0]), profile::sheet_config(b), 0};
  std::printf("yolo4 profile --compare\n  A = %s: %zu ops, %s\n  B = %s: %zu ops, %s\n",
              files[0].c_str(), a.size(), ai.description.c_str(), files[1].c_str(), b.size(),
              bi.description.c_str());
  print_compare(profile::time_by_module(a), profile::time_by_module(b), "module");
  print_compare_row("total", profile::total_duration_ns(a), profile::total_duration_ns(b));
  print_compare(profile::time_by_op(a), profile::time_by_op(b), "op type");
  if (!plot.empty()) {
    profile::compare_svg(a, ai, b, bi).save(plot);
    std::printf("  plot: %s\n", plot.c_str());
  }
  return 0;
}

struct ProfileArgs {
  ModelFlags flags;
  int runs = 3, warmup = 2, top = 10;
  std::string csv, plot;
};

// "yolov4.cfg (embedded) 320x320": what was profiled.
std::string network_name(const Graph& graph, const Shape& input) {
  return detail::concat(graph.spec().path, " ", input.w, "x", input.h);
}

void print_header(const ProfileArgs& a, const std::string& network, const ModelOptions& o,
                  const Device& device, const profile::Roofs& roofs) {
  std::printf("yolo4 profile: %s, %d cores, %s, %s kernels, %d profiled run%s\n", network.c_str(),
              device.num_cores(), o.describe().c_str(), to_string(o.isa).data(), a.runs,
              a.runs == 1 ? "" : "s");
  std::printf(
      "  measured fp32 FMA peak: %.1f GFLOP/s per core (best of short runs), %.1f GFLOP/s "
      "on all %d cores at once\n",
      roofs.hifi4.per_core_gflops, roofs.hifi4.total_gflops, device.num_cores());
  if (roofs.lofi) {
    std::printf("  measured LoFi product peak (%s): %.1f GFLOP/s per core, %.1f on all cores\n",
                roofs.lofi_kernel.c_str(), roofs.lofi->per_core_gflops, roofs.lofi->total_gflops);
  } else {
    std::printf("  LoFi's products (%s): against the fp32 FMA peak%s\n", roofs.lofi_kernel.c_str(),
                kernels::amx_bf16_products(o.isa) ? " (AMX's tile peak is not measured)"
                                                  : " (its operands widened to fp32 FMAs)");
  }
  std::printf("  measured read bandwidth: %.1f GB/s on all %d cores at once (the dram column)\n",
              roofs.dram_bytes_per_s * 1e-9, device.num_cores());
}

void write_outputs(const ProfileArgs& a, const std::string& network, const ModelOptions& o,
                   const Device& device, const profile::Roofs& roofs,
                   const std::vector<OpRow>& rows) {
  if (!a.csv.empty()) {
    profile::write_csv_file(a.csv, rows);
    std::printf("  perf sheet: %s (%zu ops)\n", a.csv.c_str(), rows.size());
  }
  if (a.plot.empty()) return;
  const profile::SheetInfo info{
      o.describe(),
      detail::concat(network, ", ", device.num_cores(), " cores, ", to_string(o.isa),
                     " kernels, median of ", a.runs, a.runs == 1 ? " run" : " runs",
                     ", per-core peak ", std::lround(roofs.hifi4.per_core_gflops), " GFLOP/s"),
      device.num_cores()};
  profile::profile_svg(rows, info).save(a.plot);
  std::printf("  plot: %s\n", a.plot.c_str());
}

int profile_network(const ProfileArgs& a) {
  const auto loaded = load_detection_model(a.flags.source());
  const Graph& model = loaded->graph();
  const ModelOptions& options = model.options();
  const auto [width, height] = a.flags.input_size(model.spec());
  const Tensor input = random_input(width, height);
  model.validate_input(input.shape());
  const std::string network = network_name(model, input.shape());
  Device device(a.flags.thread_count(), model.isa(), a.flags.pinning());
  const profile::Roofs roofs = profile::measure_roofs(device);
  print_header(a, network, options, device, roofs);

  InferenceSession session(model, device);
  for (int i = 0; i < 1 + a.warmup; ++i) session.run(input);  // the first run plans the arena
  profile::OpCollector collector;
  const Timings timings = time_runs(device, session, input, a.runs, collector);
  const std::vector<OpRow> rows = profile::make_rows(
      profile::median_over_runs(collector.runs()), profile::peak_table(roofs, device.num_cores()));

  print_summary(timings, rows);
  const double total = profile::total_duration_ns(rows);
  print_shares("by module", profile::time_by_module(rows), total);
  print_shares("by op type", profile::time_by_op(rows), total);
  print_shares("by nearer roof", profile::time_by_roof(rows), total);
  print_slowest(rows, size_t(a.top));
  write_outputs(a, network, options, device, roofs, rows);
  return 0;
}

}  // namespace

int profile_command(int argc, char** argv) {
  ProfileArgs a;
  bool compare = false;
  std::vector<std::string> files;
  ArgParser p(
      "yolo4 profile [--weights FILE] [--cfg FILE] [--size N] [--runs N] [model flags] --csv FILE "
      "[--plot FILE.svg]\n       yolo4 profile --compare A.csv B.csv [--plot FILE.svg]",
      "Profiles every op (median of N runs after warm-up) and writes the perf sheet: one\n"
      "CSV row per op with its utilisation, (ideal / duration) x (grid cores / cores used),\n"
      "against the measured per-core peak of its products (fp32 FMAs; VDPBF16PS for LoFi\n"
      "where the CPU has it), and its dram utilisation: its bytes at the measured read\n"
      "bandwidth of all cores, over its duration. --compare puts two sheets side by side.");
  a.flags.add_to(p, "weights (.pth or darknet .weights); default: random weights");
  p.option("--runs", "N", "profiled runs, each paired with an unprofiled one (default 3)", &a.runs,
           1, 10000);
  p.option("--warmup", "N", "untimed runs first (default 2)", &a.warmup, 0, 10000);
  p.option("--csv", "FILE", "write the perf sheet here (one row per op)", &a.csv);
  p.option("--plot", "FILE", "write the plots here as SVG", &a.plot);
  p.option("--top", "N", "slowest ops to print (default 10)", &a.top, 0, 100000);
  p.flag("--compare", "compare two perf sheets given as A.csv B.csv", &compare);
  p.positionals("SHEET", "with --compare: the two perf sheets, A.csv B.csv", &files);
  if (!p.parse(argc, argv)) return 0;
  if (compare) {
    YOLO4_CHECK(a.csv.empty(),
                "--compare reads two sheets; --csv is for writing one when profiling");
    return compare_command(files, a.plot);
  }
  YOLO4_CHECK(files.empty(), "unexpected argument '", files.empty() ? "" : files[0],
              "' (CSV files are only read with --compare)");
  YOLO4_CHECK(!a.csv.empty() || !a.plot.empty(), "say where the perf sheet goes: --csv FILE");
  return profile_network(a);
}

}  // namespace yolo4::cli
