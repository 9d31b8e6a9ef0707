// The perf sheet: per-op records collected over profiled runs, reduced to one row per op (median
// duration), with the report's utilisation formula, and written to / read from CSV.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "yolo4/core/dtype.h"
#include "yolo4/core/profiling.h"
#include "yolo4/kernels/peak.h"

namespace yolo4::profile {

// Per-core peak FLOP/s by activation dtype and math fidelity, and the size of the core grid:
// the denominators of every utilisation figure. Only the fp32 FMA peak is measured for now;
// every dtype and fidelity falls back to it until a faster path (e.g. bf16 dot products) has
// its own entry.
class PeakTable {
 public:
  PeakTable(int grid_cores, double f32_per_core_flops_per_s);

  void set(DataType dtype, std::string_view fidelity, double per_core_flops_per_s);
  double per_core(DataType dtype, std::string_view fidelity) const;  // FLOP/s, one core
  double f32_per_core() const { return f32_per_core_; }
  int grid_cores() const { return grid_cores_; }

 private:
  struct Entry {
    DataType dtype;
    std::string fidelity;
    double flops_per_s;
  };
  int grid_cores_;
  double f32_per_core_;
  std::vector<Entry> entries_;
};

// The fp32 FMA peak as the best of many short measurements: on a shared machine preemption only
// ever lowers a measurement, and a low denominator would inflate every utilisation.
PeakFlops measure_peak(Device& device, int attempts = 30, double seconds = 0.01);

// Collects the records of the ops run while it is the device's observer, one run at a time.
class OpCollector : public OpObserver {
 public:
  void record(const OpRecord& record) override { current_.push_back(record); }
  void end_run();  // closes the current run (its ops in execution order)

  const std::vector<std::vector<OpRecord>>& runs() const { return runs_; }

 private:
  std::vector<OpRecord> current_;
  std::vector<std::vector<OpRecord>> runs_;
};

// One op per run, matched by execution index (the runs must have run the same ops); each
// duration is the median over the runs.
std::vector<OpRecord> median_over_runs(const std::vector<std::vector<OpRecord>>& runs);

// One row of the perf sheet, as in the CSV.
struct OpRow {
  int index = 0;
  std::string path, op;
  std::string input_shape, output_shape;  // "NxHxWxC"
  std::string dtype, weights_dtype, fidelity, shard_layout;
  int cores = 1;
  int64_t duration_ns = 0;  // median over the runs
  double flops = 0;
  // The report's "PM ideal": the op's FLOPs at peak on every core of the grid.
  double ideal_ns = 0;
  // (ideal / duration) x (grid cores / cores used), in percent: how busy the op kept the cores
  // it used. 0 for ops without FLOPs.
  double utilisation = 0;
  double bytes = 0;
  double arithmetic_intensity = 0;  // FLOPs per byte, 0 without bytes
};

std::string shape_string(const Shape& shape);  // "1x320x320x3"
double ideal_ns(double flops, double per_core_flops_per_s, int grid_cores);
double utilisation_percent(double ideal_ns, double duration_ns, int grid_cores, int cores_used);
OpRow make_row(int index, const OpRecord& record, const PeakTable& peak);
std::vector<OpRow> make_rows(const std::vector<OpRecord>& records, const PeakTable& peak);

// The module an op belongs to: the first part of its path ("down3", "neek", "head").
std::string module_of(std::string_view path);

// Rows sorted by duration, slowest first, at most n.
std::vector<OpRow> slowest(const std::vector<OpRow>& rows, size_t n);

// Total duration per key (op type or module), in order of first appearance.
struct TimeShare {
  std::string key;
  double duration_ns = 0;
  int ops = 0;
};
std::vector<TimeShare> time_by_op(const std::vector<OpRow>& rows);
std::vector<TimeShare> time_by_module(const std::vector<OpRow>& rows);
double total_duration_ns(const std::vector<OpRow>& rows);

// What a sheet ran: "float32/float32/HiFi4, up to 2 cores" (from its first op with FLOPs).
std::string sheet_config(const std::vector<OpRow>& rows);

// CSV: the header, then one row per op in execution order.
const std::vector<std::string>& csv_header();
void write_csv(std::ostream& out, const std::vector<OpRow>& rows);
void write_csv_file(const std::string& path, const std::vector<OpRow>& rows);
std::vector<OpRow> read_csv(std::istream& in, const std::string& source = "csv");
std::vector<OpRow> read_csv_file(const std::string& path);

// Splits one CSV line into fields ("" quotes as RFC 4180, no line breaks inside fields).
std::vector<std::string> split_csv_line(std::string_view line);

}  // namespace yolo4::profile
