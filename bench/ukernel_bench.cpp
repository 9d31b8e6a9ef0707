// The conv micro-kernels alone, as XNNPACK benchmarks its GEMM kernels: one core, operands in
// L1/L2, each kernel a conv's rows may run (the full MR-row tile, the shorter ones for its
// last rows and the tall one of MR + 1), for reduction lengths K of YOLOv4's convs. GFLOP/s and the
// fraction of the kernel's own measured per-core product peak (fp32 FMAs; VDPBF16PS's; the FMA
// peak for AMX's tiles, whose peak is not measured). The sums are stored without the epilogue,
// except in the series named "+mish", which adds the fused bias + mish epilogue to a full tile. The
// series "stream" reads the weights from memory instead (BM_ConvStream). The series "activation"
// times each activation alone on 4096 floats in L1 (the standalone activation kernel, one vector at
// a time; BM_Activation). Usage:
//   ukernel_bench [--isa=avx512|avx2|scalar] [google benchmark flags]
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "bench_main.h"
#include "yolo4/core/aligned_vector.h"
#include "yolo4/core/cpu_features.h"
#include "yolo4/core/device.h"
#include "yolo4/kernels/kernels.h"
#include "yolo4/kernels/peak.h"

namespace {

using yolo4::kernels::ConvKernel;
using yolo4::kernels::ConvTile;
using yolo4::kernels::kKBlock;

yolo4::Isa g_isa = yolo4::best_isa();
std::map<yolo4::kernels::ProductLoopFn, double> g_product_peaks;  // per-core GFLOP/s, measured
double g_peak_per_core_gflops = 0;  // fp32 FMAs: the peak of a kernel without a product loop

// The per-core peak of `kernel`'s products, the denominator of its peak%.
double peak_of(const ConvKernel& kernel) {
  const auto it = g_product_peaks.find(kernel.product_loop);
  return it != g_product_peaks.end() ? it->second : g_peak_per_core_gflops;
}

// Measures, once, the product peak of each kernel registered.
void measure_product_peak(const ConvKernel& kernel) {
  if (!kernel.product_loop || g_product_peaks.count(kernel.product_loop)) return;
  yolo4::Device device(1, g_isa);
  const double peak = yolo4::measure_product_peak(device, kernel, 0.5).per_core_gflops;
  g_product_peaks[kernel.product_loop] = peak;
  std::printf("measured product peak of %s (%s, 1 core): %.1f GFLOP/s\n", kernel.name,
              std::string(yolo4::to_string(g_isa)).c_str(), peak);
}

// 1.0 as bfloat16 in every half-word: about 1.0 read as float, as bf16 or as bf16 pairs.
constexpr uint16_t kBf16One = 0x3f80;

void BM_ConvUkernel(benchmark::State& state, const ConvKernel* kernel, int rows, int k,
                    yolo4::Activation epilogue, bool bf16_out) {
  // 4 bytes a value: enough for either operand format. The kernels prefetch the weights some
  // KB ahead, as in a conv's weight stream: those lines exist here too.
  constexpr size_t kPrefetchSlack = 16384 / sizeof(uint16_t);
  // Two packed tiles: the tall kernel reads the second's first row.
  const yolo4::AlignedVector<uint16_t> a(size_t(4) * kernel->mr * k, kBf16One);
  const yolo4::AlignedVector<uint16_t> w(size_t(2) * kernel->nr * k + kPrefetchSlack, kBf16One);
  yolo4::AlignedVector<float> bias(size_t(kernel->nr), 0.0f),
      out(size_t(kernel->mr + 1) * kernel->nr);
  ConvTile t;
  t.a = a.data();
  t.w = w.data();
  t.kblocks = k / kKBlock;
  t.bias = bias.data();
  t.out = out.data();
  t.out_stride = kernel->nr;
  t.rows = rows;
  t.columns = t.channels = kernel->nr;
  t.finalize = epilogue != yolo4::Activation::kNone;
  t.activation = epilogue;
  const yolo4::kernels::ConvTileFn run = kernel->for_rows(rows, bf16_out);
  kernel->prepare_core();
  for (auto _ : state) {
    run(t);
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * rows * kernel->nr * k;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak%"] = benchmark::Counter(flops * 1e-9 / peak_of(*kernel) * 100,
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(kernel->name);
}

// A GEMM whose weights stream from memory, as Winograd's do on the 10x10 and 20x20 maps: `rows`
// rows (25 there: the map's output tiles) in tiles as Winograd fills them
// (ConvKernel::tile_fill) meet one K x NR weight panel after
// another of a buffer far larger than the caches, each GEMM fetching the next panel as it runs
// (ConvTile::w_next). GB/s of weights read, GFLOP/s and % of the peak, on one core.
void BM_ConvStream(benchmark::State& state, const ConvKernel* kernel, int rows, int k) {
  constexpr size_t kStreamBytes = size_t(256) << 20;
  const int mr = kernel->mr, nr = kernel->nr, fill = kernel->tile_fill(rows);
  const int tiles = (rows + fill - 1) / fill;
  const size_t panel_bytes = size_t(k) * nr * yolo4::kernels::operand_bytes(kernel->operands);
  const size_t panels = kStreamBytes / panel_bytes;
  // One panel more: the last GEMM's next.
  const yolo4::AlignedVector<uint16_t> w((panels + 1) * panel_bytes / 2, kBf16One);
  const yolo4::AlignedVector<uint16_t> a(size_t(2) * tiles * mr * k, kBf16One);
  yolo4::AlignedVector<float> bias(size_t(nr), 0.0f), out(size_t(tiles) * mr * nr);
  const auto* weights = reinterpret_cast<const std::byte*>(w.data());
  ConvTile t;
  t.kblocks = k / kKBlock;
  t.bias = bias.data();
  t.out_stride = nr;
  t.columns = t.channels = nr;
  t.finalize = false;
  size_t panel = 0;
  kernel->prepare_core();
  for (auto _ : state) {
    t.w = weights + panel * panel_bytes;
    t.w_next = weights + (panel + 1) * panel_bytes;
    for (int tile = 0; tile < tiles; ++tile) {
      t.rows = kernel->tile_rows(rows - tile * fill, tile + 1 < tiles, fill);
      t.a = a.data() + size_t(2) * tile * mr * k;
      t.out = out.data() + size_t(tile) * mr * nr;
      kernel->for_rows(t.rows, false)(t);
      if (t.rows > mr) ++tile;  // the tall kernel ran the last tile's row too
    }
    panel = (panel + 1) % panels;
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * rows * nr * k;
  state.counters["GB/s"] =
      benchmark::Counter(double(panel_bytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak%"] = benchmark::Counter(flops * 1e-9 / peak_of(*kernel) * 100,
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(kernel->name);
}

// An activation over 4096 floats spread over [-8, 8]: ns per float.
void BM_Activation(benchmark::State& state, yolo4::Activation activation) {
  constexpr int kValues = 4096;
  // Output and input half a page apart: at a multiple of 4 KB the stores would seem to alias the
  // loads (4K aliasing), which made runs of the same binary vary 3x.
  constexpr int kOutOffset = kValues + 512;
  yolo4::AlignedVector<float> buffer(kOutOffset + kValues);
  float* in = buffer.data();
  float* out = buffer.data() + kOutOffset;
  for (int i = 0; i < kValues; ++i) in[i] = -8.0f + 16.0f * float(i % 997) / 997.0f;
  const auto run = yolo4::kernels::kernel_table(g_isa).f32_activation;
  for (auto _ : state) {
    run(in, out, kValues, activation);
    benchmark::ClobberMemory();
  }
  state.counters["ns/float"] =
      benchmark::Counter(double(kValues) * 1e-9, benchmark::Counter::kIsIterationInvariantRate |
                                                     benchmark::Counter::kInvert);
}

void register_activations() {
  using yolo4::Activation;
  for (Activation a : {Activation::kMish, Activation::kMishApprox, Activation::kLeaky,
                       Activation::kLogistic, Activation::kSwish}) {
    benchmark::RegisterBenchmark(
        (std::string("activation ") + std::string(yolo4::to_string(a))).c_str(), BM_Activation, a);
  }
}

void register_kernel(const char* fidelity, const ConvKernel& kernel) {
  measure_product_peak(kernel);
  for (int k : {32, 64, 256, 1024}) {
    const std::string prefix =
        std::string(fidelity) + " " + kernel.name + " K=" + std::to_string(k);
    const auto add = [&](int rows, yolo4::Activation activation, const char* suffix,
                         bool bf16_out = false) {
      benchmark::RegisterBenchmark((prefix + " rows=" + std::to_string(rows) + suffix).c_str(),
                                   BM_ConvUkernel, &kernel, rows, k, activation, bf16_out)
          ->Unit(benchmark::kMicrosecond);
    };
    if (kernel.run_row[0]) add(1, yolo4::Activation::kNone, "");
    for (int rows = kernel.row_step; rows <= kernel.mr; rows += kernel.row_step) {
      const bool shorter = kernel.for_rows(rows, false) != kernel.run[0];
      if (rows < kernel.mr && !shorter) continue;  // no shorter kernel: the full tile's runs
      add(rows, yolo4::Activation::kNone, "");
    }
    if (kernel.run_tall[0]) add(kernel.mr + 1, yolo4::Activation::kNone, "");
    add(kernel.mr, yolo4::Activation::kMish, " +mish");
    add(kernel.mr, yolo4::Activation::kMishApprox, " +mish_approx to bf16", true);
  }
  // Streamed weights: 25 rows as on those maps, and one full tile alone.
  for (int k : {256, 512}) {
    for (int rows : {25, kernel.mr}) {
      const std::string name = std::string("stream ") + fidelity + " " + kernel.name +
                               " K=" + std::to_string(k) + " rows=" + std::to_string(rows);
      benchmark::RegisterBenchmark(name.c_str(), BM_ConvStream, &kernel, rows, k)
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace

int run(int argc, char** argv) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--isa=", 6) == 0) {
      g_isa = yolo4::parse_isa(argv[i] + 6);
    } else {
      rest.push_back(argv[i]);
    }
  }
  const yolo4::kernels::KernelTable& table = yolo4::kernels::kernel_table(g_isa);
  register_activations();
  register_kernel("hifi4", table.conv_hifi4);
  g_peak_per_core_gflops = peak_of(table.conv_hifi4);
  if (std::strcmp(table.conv_lofi.name, table.conv_hifi4.name) != 0) {
    register_kernel("lofi", table.conv_lofi);
  }
  // VDPBF16PS where AMX runs LoFi: the kernel it replaced.
  if (std::strcmp(table.conv_lofi_exact.name, table.conv_lofi.name) != 0 &&
      std::strcmp(table.conv_lofi_exact.name, table.conv_hifi4.name) != 0) {
    register_kernel("lofi-exact", table.conv_lofi_exact);
  }
  return yolo4::bench::run_registered(rest);
}

int main(int argc, char** argv) {
  return yolo4::bench::guarded_main("ukernel_bench", run, argc, argv);
}
