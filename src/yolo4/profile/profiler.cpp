#include "yolo4/profile/profiler.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <limits>
#include <ostream>
#include <sstream>

#include "yolo4/core/error.h"
#include "yolo4/core/math_fidelity.h"
#include "yolo4/core/tensor.h"

namespace yolo4::profile {

// --- peaks -------------------------------------------------------------------------------------

PeakTable::PeakTable(int grid_cores, double f32_per_core_flops_per_s)
    : grid_cores_(grid_cores), f32_per_core_(f32_per_core_flops_per_s) {
  YOLO4_CHECK(grid_cores >= 1, "peak table: grid of ", grid_cores, " cores");
  YOLO4_CHECK(f32_per_core_flops_per_s > 0, "peak table: per-core peak must be positive");
}

void PeakTable::set(DataType dtype, std::string_view fidelity, double per_core_flops_per_s) {
  for (Entry& e : entries_) {
    if (e.dtype == dtype && e.fidelity == fidelity) {
      e.flops_per_s = per_core_flops_per_s;
      return;
    }
  }
  entries_.push_back({dtype, std::string(fidelity), per_core_flops_per_s});
}

double PeakTable::per_core(DataType dtype, std::string_view fidelity) const {
  for (const Entry& e : entries_) {
    if (e.dtype == dtype && e.fidelity == fidelity) return e.flops_per_s;
  }
  return f32_per_core_;  // no peak of its own: the fp32 FMAs' peak
}

PeakFlops measure_peak(Device& device, const kernels::ConvKernel& kernel, int attempts,
                       double seconds) {
  PeakFlops best;
  for (int i = 0; i < attempts; ++i) {
    const PeakFlops p = measure_product_peak(device, kernel, seconds);
    best.per_core_gflops = std::max(best.per_core_gflops, p.per_core_gflops);
    best.total_gflops = std::max(best.total_gflops, p.total_gflops);
  }
  return best;
}

PeakFlops measure_peak(Device& device, int attempts, double seconds) {
  return measure_peak(device, kernels::kernel_table(device.isa()).conv_hifi4, attempts, seconds);
}

Roofs measure_roofs(Device& device) {
  const kernels::KernelTable& k = kernels::kernel_table(device.isa());
  Roofs roofs;
  roofs.hifi4 = measure_peak(device);
  roofs.lofi_kernel = k.conv_lofi.name;
  if (k.conv_lofi.product_loop && k.conv_lofi.product_loop != k.conv_hifi4.product_loop) {
    roofs.lofi = measure_peak(device, k.conv_lofi);
  }
  roofs.dram_bytes_per_s = measure_read_bandwidth(device);
  return roofs;
}

PeakTable peak_table(const Roofs& roofs, int grid_cores) {
  PeakTable table(grid_cores, roofs.hifi4.per_core_gflops * 1e9);
  if (roofs.lofi) {
    // LoFi's products whatever its output: a conv feeding the decoder writes fp32.
    for (const DataType dtype : {DataType::BFLOAT16, DataType::FLOAT32}) {
      table.set(dtype, to_string(MathFidelity::LoFi), roofs.lofi->per_core_gflops * 1e9);
    }
  }
  table.set_dram_bandwidth(roofs.dram_bytes_per_s);
  return table;
}

// --- collecting and reducing runs ---------------------------------------------------------------

void OpCollector::end_run() {
  runs_.push_back(std::move(current_));
  current_.clear();
}

namespace {

int64_t median(std::vector<int64_t> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

void check_same_ops(const std::vector<OpRecord>& first, const std::vector<OpRecord>& run,
                    size_t run_index) {
  YOLO4_CHECK(run.size() == first.size(), "profile: run ", run_index, " ran ", run.size(),
              " ops, run 0 ran ", first.size());
  for (size_t i = 0; i < run.size(); ++i) {
    YOLO4_CHECK(run[i].op == first[i].op && run[i].path == first[i].path, "profile: op ", i,
                " of run ", run_index, " is ", run[i].op, " at '", run[i].path, "', run 0 had ",
                first[i].op, " at '", first[i].path, "'");
  }
}

}  // namespace

std::vector<OpRecord> median_over_runs(const std::vector<std::vector<OpRecord>>& runs) {
  YOLO4_CHECK(!runs.empty(), "profile: no runs to take the median of");
  for (size_t r = 1; r < runs.size(); ++r) check_same_ops(runs[0], runs[r], r);
  std::vector<OpRecord> result = runs[0];
  for (size_t i = 0; i < result.size(); ++i) {
    std::vector<int64_t> durations;
    for (const std::vector<OpRecord>& run : runs) durations.push_back(run[i].duration_ns);
    result[i].duration_ns = median(std::move(durations));
  }
  return result;
}

// --- rows ---------------------------------------------------------------------------------------

std::string shape_string(const Shape& s) {
  const int64_t dims[] = {s.n, s.h, s.w, s.c};
  return join_dims(dims, "x");
}

double ideal_ns(double flops, double per_core_flops_per_s, int grid_cores) {
  return flops / (per_core_flops_per_s * grid_cores) * 1e9;
}

double utilisation_percent(double ideal, double duration_ns, int grid_cores, int cores_used) {
  if (ideal <= 0 || duration_ns <= 0 || cores_used <= 0) return 0;
  return 100.0 * ideal / duration_ns * double(grid_cores) / double(cores_used);
}

double dram_ideal_ns(double bytes, double bytes_per_s) {
  return bytes_per_s > 0 ? bytes / bytes_per_s * 1e9 : 0;
}

OpRow make_row(int index, const OpRecord& r, const PeakTable& peak) {
  OpRow row;
  row.index = index;
  row.path = r.path;
  row.op = std::string(r.op);
  row.input_shape = shape_string(r.input);
  row.output_shape = shape_string(r.output);
  row.dtype = std::string(to_string(r.dtype));
  row.weights_dtype = std::string(to_string(r.weights_dtype));
  row.fidelity = std::string(to_string(r.math_fidelity));
  row.shard_layout = std::string(to_string(r.shard_layout));
  row.cores = r.cores;
  row.duration_ns = r.duration_ns;
  row.flops = r.flops;
  row.ideal_ns =
      ideal_ns(r.flops, peak.per_core(r.dtype, to_string(r.math_fidelity)), peak.grid_cores());
  row.utilisation =
      utilisation_percent(row.ideal_ns, double(r.duration_ns), peak.grid_cores(), r.cores);
  row.bytes = r.bytes;
  row.arithmetic_intensity = r.bytes > 0 ? r.flops / r.bytes : 0;
  // The bandwidth is the machine's, whatever share of the cores the op ran on.
  row.dram_ideal_ns = dram_ideal_ns(r.bytes, peak.dram_bandwidth());
  row.dram_utilisation = r.duration_ns > 0 ? 100.0 * row.dram_ideal_ns / double(r.duration_ns) : 0;
  return row;
}

std::vector<OpRow> make_rows(const std::vector<OpRecord>& records, const PeakTable& peak) {
  std::vector<OpRow> rows;
  rows.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) rows.push_back(make_row(int(i), records[i], peak));
  return rows;
}

std::string module_of(std::string_view path) {
  if (path.empty()) return "(top)";
  return std::string(path.substr(0, path.find('.')));
}

std::vector<OpRow> slowest(const std::vector<OpRow>& rows, size_t n) {
  std::vector<OpRow> sorted = rows;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const OpRow& a, const OpRow& b) { return a.duration_ns > b.duration_ns; });
  if (sorted.size() > n) sorted.resize(n);
  return sorted;
}

namespace {

template <class KeyFn>
std::vector<TimeShare> time_by(const std::vector<OpRow>& rows, KeyFn key_of) {
  std::vector<TimeShare> shares;
  for (const OpRow& row : rows) {
    const std::string key = key_of(row);
    auto it = std::find_if(shares.begin(), shares.end(),
                           [&](const TimeShare& s) { return s.key == key; });
    if (it == shares.end()) it = shares.insert(shares.end(), TimeShare{key, 0, 0});
    it->duration_ns += double(row.duration_ns);
    it->ops += 1;
  }
  return shares;
}

}  // namespace

std::vector<TimeShare> time_by_op(const std::vector<OpRow>& rows) {
  return time_by(rows, [](const OpRow& r) { return r.op; });
}

std::vector<TimeShare> time_by_module(const std::vector<OpRow>& rows) {
  return time_by(rows, [](const OpRow& r) { return module_of(r.path); });
}

std::vector<TimeShare> time_by_roof(const std::vector<OpRow>& rows) {
  const bool measured =
      std::any_of(rows.begin(), rows.end(), [](const OpRow& r) { return r.dram_ideal_ns > 0; });
  if (!measured) return {};
  return time_by(rows, [](const OpRow& r) {
    return std::string(r.ideal_ns >= r.dram_ideal_ns ? "compute" : "memory");
  });
}

double total_duration_ns(const std::vector<OpRow>& rows) {
  double total = 0;
  for (const OpRow& row : rows) total += double(row.duration_ns);
  return total;
}

std::string sheet_config(const std::vector<OpRow>& rows) {
  if (rows.empty()) return "no ops";
  const OpRow* first = &rows[0];
  int cores = 0;
  for (const OpRow& r : rows) {
    if (first->flops <= 0 && r.flops > 0) first = &r;
    cores = std::max(cores, r.cores);
  }
  return detail::concat(first->dtype, "/", first->weights_dtype, "/", first->fidelity, ", up to ",
                        cores, cores == 1 ? " core" : " cores");
}

// --- CSV ----------------------------------------------------------------------------------------

const std::vector<std::string>& csv_header() {
  static const std::vector<std::string> header = {"index",
                                                  "path",
                                                  "op",
                                                  "input_shape",
                                                  "output_shape",
                                                  "dtype",
                                                  "weights_dtype",
                                                  "fidelity",
                                                  "shard_layout",
                                                  "cores",
                                                  "duration_ns",
                                                  "flops",
                                                  "ideal_ns",
                                                  "utilisation",
                                                  "bytes",
                                                  "arithmetic_intensity",
                                                  "dram_ideal_ns",
                                                  "dram_utilisation"};
  return header;
}

namespace {

std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\n") == std::string::npos) return value;
  std::string quoted = "\"";
  for (char c : value) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string number(double value) {
  std::ostringstream out;
  out << std::setprecision(std::numeric_limits<double>::max_digits10) << value;
  return out.str();
}

std::vector<std::string> row_fields(const OpRow& r) {
  return {std::to_string(r.index),
          r.path,
          r.op,
          r.input_shape,
          r.output_shape,
          r.dtype,
          r.weights_dtype,
          r.fidelity,
          r.shard_layout,
          std::to_string(r.cores),
          std::to_string(r.duration_ns),
          number(r.flops),
          number(r.ideal_ns),
          number(r.utilisation),
          number(r.bytes),
          number(r.arithmetic_intensity),
          number(r.dram_ideal_ns),
          number(r.dram_utilisation)};
}

void write_line(std::ostream& out, const std::vector<std::string>& fields) {
  for (size_t i = 0; i < fields.size(); ++i) out << (i ? "," : "") << csv_field(fields[i]);
  out << "\n";
}

template <class T>
T parse_number(const std::string& text, const std::string& where) {
  std::istringstream in(text);
  T value{};
  in >> value;
  YOLO4_CHECK(!in.fail() && in.eof() && !text.empty(), where, ": '", text, "' is not a number");
  return value;
}

// Sheets written before the DRAM columns end at arithmetic_intensity.
constexpr size_t kColumnsBeforeDram = 16;

// A row of a sheet whose header has `columns` fields.
OpRow parse_row(const std::vector<std::string>& f, size_t columns, const std::string& where) {
  YOLO4_CHECK(f.size() == columns, where, ": ", f.size(), " fields, expected ", columns);
  OpRow r;
  r.index = parse_number<int>(f[0], where + " index");
  r.path = f[1], r.op = f[2], r.input_shape = f[3], r.output_shape = f[4];
  r.dtype = f[5], r.weights_dtype = f[6], r.fidelity = f[7], r.shard_layout = f[8];
  r.cores = parse_number<int>(f[9], where + " cores");
  r.duration_ns = parse_number<int64_t>(f[10], where + " duration_ns");
  r.flops = parse_number<double>(f[11], where + " flops");
  r.ideal_ns = parse_number<double>(f[12], where + " ideal_ns");
  r.utilisation = parse_number<double>(f[13], where + " utilisation");
  r.bytes = parse_number<double>(f[14], where + " bytes");
  r.arithmetic_intensity = parse_number<double>(f[15], where + " arithmetic_intensity");
  if (columns > kColumnsBeforeDram) {
    r.dram_ideal_ns = parse_number<double>(f[16], where + " dram_ideal_ns");
    r.dram_utilisation = parse_number<double>(f[17], where + " dram_utilisation");
  }
  return r;
}

}  // namespace

void write_csv(std::ostream& out, const std::vector<OpRow>& rows) {
  write_line(out, csv_header());
  for (const OpRow& row : rows) write_line(out, row_fields(row));
}

void write_csv_file(const std::string& path, const std::vector<OpRow>& rows) {
  std::ofstream out(path);
  YOLO4_CHECK(out, "cannot write '", path, "'");
  write_csv(out, rows);
  out.close();
  YOLO4_CHECK(out, "error writing '", path, "'");
}

std::vector<std::string> split_csv_line(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      fields.back() += '"', ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return fields;
}

std::vector<OpRow> read_csv(std::istream& in, const std::string& source) {
  std::string line;
  YOLO4_CHECK(std::getline(in, line), source, ": empty, expected the perf sheet header");
  const std::vector<std::string> header = split_csv_line(line);
  const std::vector<std::string>& current = csv_header();
  const bool before_dram = header.size() == kColumnsBeforeDram &&
                           std::equal(header.begin(), header.end(), current.begin());
  YOLO4_CHECK(header == current || before_dram, source,
              ": not a yolo4 perf sheet (header differs from 'index,path,op,...')");
  std::vector<OpRow> rows;
  for (int number = 2; std::getline(in, line); ++number) {
    if (line.empty() || line == "\r") continue;
    rows.push_back(
        parse_row(split_csv_line(line), header.size(), detail::concat(source, ":", number)));
  }
  return rows;
}

std::vector<OpRow> read_csv_file(const std::string& path) {
  std::ifstream in(path);
  YOLO4_CHECK(in, "cannot open '", path, "'");
  return read_csv(in, path);
}

}  // namespace yolo4::profile
