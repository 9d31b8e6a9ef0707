// The profiler on its own (medians, the utilisation formula, the peak table) and on YOLOv4:
// FLOPs per conv add up to the model's hand count, and utilisation stays in (0, 100] for convs.
#include "yolo4/profile/profiler.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>

#include "yolo4/core/cpu_features.h"
#include "yolo4/core/error.h"
#include "yolo4/kernels/peak.h"
#include "yolo4/model/session.h"
#include "yolo4/model/yolov4.h"
#include "yolo4/ops/layout.h"

namespace yolo4::profile {
namespace {

OpRecord record(std::string_view op, std::string path, int64_t ns) {
  OpRecord r;
  r.op = op;
  r.path = std::move(path);
  r.duration_ns = ns;
  return r;
}

TEST(Profiler, MedianOverRunsMatchesOpsByExecutionIndex) {
  OpCollector c;
  const int64_t first[] = {5, 1, 9}, second[] = {100, 40, 7};
  for (int run = 0; run < 3; ++run) {
    c.record(record("conv2d", "down1.conv1", first[run]));
    c.record(record("copy", "neek.spp", second[run]));
    c.end_run();
  }
  const std::vector<OpRecord> m = median_over_runs(c.runs());
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].duration_ns, 5);
  EXPECT_EQ(m[1].duration_ns, 40);
  EXPECT_EQ(m[1].path, "neek.spp");
  // An even count averages the middle two.
  EXPECT_EQ(median_over_runs({{record("copy", "a", 10)}, {record("copy", "a", 20)}})[0].duration_ns,
            15);
}

TEST(Profiler, RunsWithDifferentOpsAreRejected) {
  EXPECT_THROW(median_over_runs({{record("copy", "a", 1)}, {}}), Error);
  EXPECT_THROW(median_over_runs({{record("copy", "a", 1)}, {record("conv2d", "a", 1)}}), Error);
  EXPECT_THROW(median_over_runs({}), Error);
}

TEST(Profiler, UtilisationIsTheReportsFormula) {
  // 8e9 FLOPs at 1e9 FLOP/s per core on a 4-core grid: PM ideal 2 s.
  const double ideal = ideal_ns(8e9, 1e9, 4);
  EXPECT_DOUBLE_EQ(ideal, 2e9);
  // Run in 4 s on 2 cores: (2 / 4) x (4 / 2) = 100%: both cores busy all the time.
  EXPECT_DOUBLE_EQ(utilisation_percent(ideal, 4e9, 4, 2), 100.0);
  // The same op in 8 s on all 4 cores keeps them a quarter busy.
  EXPECT_DOUBLE_EQ(utilisation_percent(ideal, 8e9, 4, 4), 25.0);
  EXPECT_EQ(utilisation_percent(0, 1e6, 4, 4), 0.0);  // no FLOPs
}

TEST(Profiler, RowsCarryTheRecordAndDerivedColumns) {
  OpRecord r = record("conv2d", "down2.conv1", 4000);
  r.input = {1, 64, 64, 64};
  r.output = {1, 32, 32, 128};
  r.cores = 1;
  r.flops = 2000;
  r.bytes = 500;
  r.shard_layout = TensorMemoryLayout::BLOCK_SHARDED;
  const OpRow row = make_row(7, r, PeakTable(2, 1e9));  // 1 FLOP/ns per core
  EXPECT_EQ(row.index, 7);
  EXPECT_EQ(row.input_shape, "1x64x64x64");
  EXPECT_EQ(row.output_shape, "1x32x32x128");
  EXPECT_EQ(row.shard_layout, "BLOCK_SHARDED");
  EXPECT_EQ(row.dtype, "float32");
  EXPECT_EQ(row.fidelity, "HiFi4");
  EXPECT_DOUBLE_EQ(row.ideal_ns, 1000);                        // 2000 FLOPs on 2 cores at 1 FLOP/ns
  EXPECT_DOUBLE_EQ(row.utilisation, 100.0 * 1000 / 4000 * 2);  // x (2 grid / 1 used)
  EXPECT_DOUBLE_EQ(row.arithmetic_intensity, 4.0);
  EXPECT_EQ(module_of(row.path), "down2");
  EXPECT_EQ(row.dram_ideal_ns, 0.0);  // no bandwidth in the table: no DRAM columns
  EXPECT_EQ(row.dram_utilisation, 0.0);

  PeakTable with_bandwidth(2, 1e9);
  with_bandwidth.set_dram_bandwidth(0.25e9);  // 1 byte per 4 ns, the machine's, for any cores
  const OpRow roofed = make_row(7, r, with_bandwidth);
  EXPECT_DOUBLE_EQ(roofed.dram_ideal_ns, 2000);
  EXPECT_DOUBLE_EQ(roofed.dram_utilisation, 50.0);  // 2000 of 4000 ns
  EXPECT_DOUBLE_EQ(roofed.utilisation, row.utilisation);
}

TEST(Profiler, TimeByRoofSplitsOpsByTheNearerRoof) {
  std::vector<OpRow> rows(3);
  rows[0].ideal_ns = 50, rows[0].dram_ideal_ns = 10, rows[0].duration_ns = 100;  // compute
  rows[1].ideal_ns = 0, rows[1].dram_ideal_ns = 10, rows[1].duration_ns = 30;    // a copy
  rows[2].ideal_ns = 5, rows[2].dram_ideal_ns = 20, rows[2].duration_ns = 40;    // memory
  const std::vector<TimeShare> shares = time_by_roof(rows);
  ASSERT_EQ(shares.size(), 2u);
  EXPECT_EQ(shares[0].key, "compute");
  EXPECT_EQ(shares[0].duration_ns, 100);
  EXPECT_EQ(shares[1].key, "memory");
  EXPECT_EQ(shares[1].duration_ns, 70);
  EXPECT_EQ(shares[1].ops, 2);
  for (OpRow& r : rows) r.dram_ideal_ns = 0;  // a sheet without the bandwidth
  EXPECT_TRUE(time_by_roof(rows).empty());
}

TEST(Profiler, PeakTableFallsBackToFp32) {
  PeakTable peaks(8, 50e9);
  EXPECT_EQ(peaks.per_core(DataType::BFLOAT16, "LoFi"), 50e9);
  peaks.set(DataType::BFLOAT16, "LoFi", 200e9);
  EXPECT_EQ(peaks.per_core(DataType::BFLOAT16, "LoFi"), 200e9);
  EXPECT_EQ(peaks.per_core(DataType::BFLOAT16, "HiFi4"), 50e9);
  EXPECT_EQ(peaks.grid_cores(), 8);
  EXPECT_EQ(peaks.dram_bandwidth(), 0.0);
}

// The measured roofs as the table holds them: LoFi's own peak for both output dtypes where it
// has one, the fp32 FMA peak otherwise.
TEST(Profiler, PeakTableFromRoofs) {
  Roofs roofs;
  roofs.hifi4.per_core_gflops = 100;
  roofs.dram_bytes_per_s = 3e10;
  const PeakTable fma_only = peak_table(roofs, 2);
  EXPECT_EQ(fma_only.per_core(DataType::BFLOAT16, "LoFi"), 100e9);
  EXPECT_EQ(fma_only.dram_bandwidth(), 3e10);
  roofs.lofi = PeakFlops{180, 350};
  const PeakTable both = peak_table(roofs, 2);
  EXPECT_EQ(both.per_core(DataType::BFLOAT16, "LoFi"), 180e9);
  EXPECT_EQ(both.per_core(DataType::FLOAT32, "LoFi"), 180e9);  // a conv feeding the decoder
  EXPECT_EQ(both.per_core(DataType::FLOAT32, "HiFi4"), 100e9);
  EXPECT_EQ(both.grid_cores(), 2);
}

// --- on the real network ------------------------------------------------------------------------

// Packed once (random weights: about 64M parameters): the default options, and all convs direct.
const Yolov4& model() {
  static const Yolov4 m(random_yolov4_weights(11));
  return m;
}

const Yolov4& direct_model() {
  ModelOptions options;
  options.winograd = false;
  static const Yolov4 m(random_yolov4_weights(11), options);
  return m;
}

Tensor random_image(int size) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> data(size_t(size) * size * 3);
  for (float& v : data) v = dist(rng);
  return from_nhwc(data.data(), {1, size, size, 3});
}

std::vector<OpRecord> profile_once(const Yolov4& model, Device& device, int size) {
  OpCollector collector;
  device.set_observer(&collector);
  model(device, random_image(size));
  device.set_observer(nullptr);
  collector.end_run();
  return collector.runs()[0];
}

TEST(ProfilerOnYolov4, ConvFlopsAddUpToTheHandCountAt320) {
  Device device;
  const std::vector<OpRecord> records = profile_once(direct_model(), device, 320);
  double total = 0;
  int convs = 0;
  std::map<std::string, double> by_path;
  for (const OpRecord& r : records) {
    if (r.op != "conv2d") continue;
    total += r.flops, ++convs;
    by_path[r.path] += r.flops;
  }
  EXPECT_EQ(convs, 110);
  EXPECT_NEAR(total * 1e-9, 35.56, 0.01);
  EXPECT_DOUBLE_EQ(total, Yolov4::flops({1, 320, 320, 3}));
  EXPECT_DOUBLE_EQ(by_path["down1.conv1"], 2.0 * 320 * 320 * 32 * 3 * 9);
  EXPECT_DOUBLE_EQ(by_path["down1.conv2"], 2.0 * 160 * 160 * 64 * 32 * 9);  // stride 2
  EXPECT_DOUBLE_EQ(by_path["down3.resblock.module_list.7.1"], 2.0 * 40 * 40 * 128 * 128 * 9);
  EXPECT_DOUBLE_EQ(by_path["head.conv18"], 2.0 * 10 * 10 * 255 * 1024);  // 1x1, stride 32 head
}

// A Winograd conv records the FLOPs its GEMMs execute: 2 x positions x tiles x C x K, with 64
// positions on 6x6 output tiles (F(6x6), fp32 up to 64 channels, 128 with AVX2's kernels), 36 on
// 4x4 ones (F(4x4), fp32 up to 256) or 16 on 2x2 ones (F(2x2)); stride 2's 81 (F(4x4)) or 25.
TEST(ProfilerOnYolov4, WinogradConvsCountTheirGemmFlops) {
  ASSERT_TRUE(ModelOptions{}.winograd);
  Device device;
  std::map<std::string, double> by_path;
  for (const OpRecord& r : profile_once(model(), device, 320)) by_path[r.path] += r.flops;
  // 128 -> 128: F(6x6) with AVX2's kernels, F(4x4) with the others' (layer_config.cpp).
  // F(6x6) at 128 -> 128 with AVX2's kernels and on AMD Zen 4, F(4x4) otherwise.
  if (ModelOptions{}.isa == Isa::kAvx2 || cpu_features().core == CpuCore::kAmdZen4) {
    EXPECT_DOUBLE_EQ(by_path["down3.resblock.module_list.7.1"], 2.0 * 64 * 7 * 7 * 128 * 128);
  } else {
    EXPECT_DOUBLE_EQ(by_path["down3.resblock.module_list.7.1"], 2.0 * 36 * 10 * 10 * 128 * 128);
  }
  EXPECT_DOUBLE_EQ(by_path["down4.resblock.module_list.7.1"], 2.0 * 36 * 5 * 5 * 256 * 256);
  EXPECT_DOUBLE_EQ(by_path["down5.resblock.module_list.3.1"], 2.0 * 16 * 5 * 5 * 512 * 512);
  EXPECT_DOUBLE_EQ(by_path["down1.conv6"], 2.0 * 64 * 27 * 27 * 64 * 32);
  EXPECT_DOUBLE_EQ(by_path["neek.conv2"], 2.0 * 16 * 5 * 5 * 1024 * 512);
  // Stride 2: F(4x4) on 64 -> 128 (81 positions on 4x4 output tiles); 512 -> 1024 direct with
  // AVX-512's kernels on cores other than AMD Zen 4 and 5, F(2x2) (25 positions on 2x2 tiles)
  // otherwise.
  EXPECT_DOUBLE_EQ(by_path["down2.conv1"], 2.0 * 81 * 20 * 20 * 128 * 64);
  if (ModelOptions{}.isa == Isa::kAvx512 && cpu_features().core == CpuCore::kOther) {
    EXPECT_DOUBLE_EQ(by_path["down5.conv1"], 2.0 * 10 * 10 * 1024 * 512 * 9);
  } else {
    EXPECT_DOUBLE_EQ(by_path["down5.conv1"], 2.0 * 25 * 5 * 5 * 1024 * 512);
  }
}

TEST(ProfilerOnYolov4, UtilisationOfARealRunIsInRange) {
  Device device;
  InferenceSession session(model(), device);
  const Tensor input = random_image(64);
  session.run(input);  // plans the arena
  OpCollector collector;
  for (int run = 0; run < 3; ++run) {
    device.set_observer(&collector);
    session.run(input);
    device.set_observer(nullptr);
    collector.end_run();
  }
  const double per_core = measure_peak(device).per_core_gflops;
  const std::vector<OpRow> rows =
      make_rows(median_over_runs(collector.runs()), PeakTable(device.num_cores(), per_core * 1e9));
  ASSERT_GE(rows.size(), 110u);
  for (const OpRow& r : rows) {
    SCOPED_TRACE(r.path + " " + r.op);
    EXPECT_GE(r.cores, 1);
    EXPECT_LE(r.cores, device.num_cores());
    EXPECT_GT(r.duration_ns, 0);
    EXPECT_LE(r.utilisation, 100.0);
    if (r.op == "conv2d") {
      EXPECT_GT(r.utilisation, 0.0);
      EXPECT_GT(r.arithmetic_intensity, 0.0);
    }
    if (r.flops == 0) {
      EXPECT_EQ(r.utilisation, 0.0);
    }
  }
}

}  // namespace
}  // namespace yolo4::profile
