// The perf sheet: per-op records collected over profiled runs, reduced to one row per op (median
// duration), with the report's utilisation formula, and written to / read from CSV.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yolo4/core/dtype.h"
#include "yolo4/core/profiling.h"
#include "yolo4/kernels/peak.h"

namespace yolo4::profile {

// Per-core peak FLOP/s by activation dtype and math fidelity, the size of the core grid, and the
// memory read bandwidth: the denominators of every utilisation figure. A dtype and fidelity
// without an entry of its own falls back to the fp32 FMA peak.
class PeakTable {
 public:
  PeakTable(int grid_cores, double f32_per_core_flops_per_s);

  void set(DataType dtype, std::string_view fidelity, double per_core_flops_per_s);
  double per_core(DataType dtype, std::string_view fidelity) const;  // FLOP/s, one core
  double f32_per_core() const { return f32_per_core_; }
  int grid_cores() const { return grid_cores_; }
  // All cores reading memory at once, bytes/s; 0: not measured (no DRAM columns).
  void set_dram_bandwidth(double bytes_per_s) { dram_bytes_per_s_ = bytes_per_s; }
  double dram_bandwidth() const { return dram_bytes_per_s_; }

 private:
  struct Entry {
    DataType dtype;
    std::string fidelity;
    double flops_per_s;
  };
  int grid_cores_;
  double f32_per_core_;
  double dram_bytes_per_s_ = 0;
  std::vector<Entry> entries_;
};

// A product peak as the best of many short measurements: on a shared machine preemption only
// ever lowers a measurement, and a low denominator would inflate every utilisation.
PeakFlops measure_peak(Device& device, const kernels::ConvKernel& kernel, int attempts = 30,
                       double seconds = 0.01);
PeakFlops measure_peak(Device& device, int attempts = 30, double seconds = 0.01);  // fp32 FMAs

// What the device's ISA can do, measured: HiFi4's fp32 FMAs, LoFi's products where they are not
// FMAs (VDPBF16PS; none where LoFi widens its operands to FMAs, or runs on AMX tiles, whose
// peak is not measured), and the read bandwidth of all cores at once.
struct Roofs {
  PeakFlops hifi4;
  std::optional<PeakFlops> lofi;
  std::string lofi_kernel;  // the LoFi conv kernel, measured or not
  double dram_bytes_per_s = 0;
};
Roofs measure_roofs(Device& device);
PeakTable peak_table(const Roofs& roofs, int grid_cores);

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
  // The roofline's other side: the op's bytes at the measured read bandwidth, as if every one
  // came from memory (activations a cache still holds make it pessimistic), and that time's share
  // of the duration, in percent. 0 where the bandwidth was not measured (older sheets).
  double dram_ideal_ns = 0;
  double dram_utilisation = 0;
};

std::string shape_string(const Shape& shape);  // "1x320x320x3"
double ideal_ns(double flops, double per_core_flops_per_s, int grid_cores);
double utilisation_percent(double ideal_ns, double duration_ns, int grid_cores, int cores_used);
double dram_ideal_ns(double bytes, double bytes_per_s);  // 0 without a bandwidth
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
// Total duration by the roof nearer to each op: "compute" where its FLOPs at peak take longer
// than its bytes at the read bandwidth, else "memory" (rows without DRAM columns: none).
std::vector<TimeShare> time_by_roof(const std::vector<OpRow>& rows);
double total_duration_ns(const std::vector<OpRow>& rows);

// What a sheet ran: "float32/float32/HiFi4, up to 2 cores" (from its first op with FLOPs).
std::string sheet_config(const std::vector<OpRow>& rows);

// CSV: the header, then one row per op in execution order. read_csv also reads sheets written
// before the DRAM columns (their dram_* 0).
const std::vector<std::string>& csv_header();
void write_csv(std::ostream& out, const std::vector<OpRow>& rows);
void write_csv_file(const std::string& path, const std::vector<OpRow>& rows);
std::vector<OpRow> read_csv(std::istream& in, const std::string& source = "csv");
std::vector<OpRow> read_csv_file(const std::string& path);

// Splits one CSV line into fields ("" quotes as RFC 4180, no line breaks inside fields).
std::vector<std::string> split_csv_line(std::string_view line);

}  // namespace yolo4::profile
