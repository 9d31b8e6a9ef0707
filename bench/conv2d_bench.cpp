// conv2d on YOLOv4's real layer shapes at 320x320 (or --size), and grouped_conv2d on
// Yolo-Fastest-XL's depthwise ones: GFLOP/s and the fraction of this machine's measured fp32 FMA
// peak; the stride-1 3x3 layers also as Winograd F(2x2,3x3), F(4x4,3x3) and F(6x6,3x3) (whose
// GFLOP/s count the direct conv's FLOPs). Usage:
//   conv2d_bench [--threads=N] [--isa=avx512|avx2|scalar] [--precision=fp32|bf16|report]
//                [--size=320|416|640|...]
//                [google benchmark flags]
// bf16: bfloat16 activations and weights, LoFi; report: bfloat16 activations, bfloat8_b
// weights, LoFi.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_main.h"
#include "yolo4/core/error.h"
#include "yolo4/kernels/peak.h"
#include "yolo4/ops/conv2d.h"
#include "yolo4/ops/grouped_conv2d.h"

namespace {

struct LayerShape {
  const char* name;
  int in_channels, out_channels, kernel, stride, in_size;  // input spatial size at 320
  int groups = 1;  // above 1: a grouped_conv2d (Yolo-Fastest's depthwise convs, leaky)

  // The conv's input side for a network input of `network_size` (320: as listed).
  int input_side(int network_size) const { return in_size * network_size / 320; }
};

// The large layers of each stage of YOLOv4 at 320x320 (input sizes are the conv's input).
const LayerShape kLayers[] = {
    {"down1.conv1 3x3 3->32", 3, 32, 3, 1, 320},
    {"down1.conv2 3x3s2 32->64", 32, 64, 3, 2, 320},
    {"down1.conv3 1x1 64->64", 64, 64, 1, 1, 160},
    {"down1.conv6 3x3 32->64", 32, 64, 3, 1, 160},
    {"down2.conv1 3x3s2 64->128", 64, 128, 3, 2, 160},
    {"down2.res 3x3 64->64", 64, 64, 3, 1, 80},
    {"down2.res 1x1 64->64", 64, 64, 1, 1, 80},
    {"down3.conv1 3x3s2 128->256", 128, 256, 3, 2, 80},
    {"down3.res 3x3 128->128", 128, 128, 3, 1, 40},
    {"down3.res 1x1 128->128", 128, 128, 1, 1, 40},
    {"down4.conv1 3x3s2 256->512", 256, 512, 3, 2, 40},
    {"down4.res 3x3 256->256", 256, 256, 3, 1, 20},
    {"down5.conv1 3x3s2 512->1024", 512, 1024, 3, 2, 20},
    {"down5.res 3x3 512->512", 512, 512, 3, 1, 10},
    {"neck.conv 3x3 512->1024", 512, 1024, 3, 1, 10},
    {"neck.conv 1x1 1024->512", 1024, 512, 1, 1, 10},
    {"head.conv 3x3 128->256", 128, 256, 3, 1, 40},
    {"head.conv 1x1 256->255", 256, 255, 1, 1, 40},
    {"fastest.dw 3x3 16", 16, 16, 3, 1, 160, 16},
    {"fastest.dw 3x3s2 48", 48, 48, 3, 2, 160, 48},
    {"fastest.dw 3x3 64", 64, 64, 3, 1, 80, 64},
    {"fastest.dw 3x3 192", 192, 192, 3, 1, 40, 192},
};

int g_threads = 2;
int g_network_size = 320;
yolo4::Isa g_isa = yolo4::best_isa();
double g_peak_gflops = 0;
yolo4::Conv2dConfig g_precision;

yolo4::Conv2dConfig parse_precision(const std::string& name) {
  yolo4::Conv2dConfig c;
  if (name == "fp32") return c;
  c.dtype = yolo4::DataType::BFLOAT16;
  c.math_fidelity = yolo4::MathFidelity::LoFi;
  if (name == "bf16") {
    c.weights_dtype = yolo4::DataType::BFLOAT16;
  } else if (name == "report") {
    c.weights_dtype = yolo4::DataType::BFLOAT8_B;
  } else {
    yolo4::fail("--precision=", name, ": expected fp32, bf16 or report");
  }
  return c;
}

// Times `op` (a Conv2d or a GroupedConv2d) on a zero input of the layer's shape.
template <class Op>
void time_op(benchmark::State& state, const Op& op, const yolo4::Shape& in_shape,
             yolo4::DataType dtype, yolo4::Device& device) {
  using namespace yolo4;
  Tensor input = device.allocate({in_shape, dtype, Layout::TILE, {}});
  std::memset(input.data<std::byte>(), 0, input.spec().bytes());
  Tensor output = device.allocate({op.output_shape(in_shape), dtype, Layout::TILE, {}});
  for (auto _ : state) {
    op.run(device, input, output);
    benchmark::ClobberMemory();
  }
  const double flops = op.flops(in_shape);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak%"] = benchmark::Counter(flops * 1e-9 / g_peak_gflops * 100,
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(op.kernel_name());
}

void BM_Conv2d(benchmark::State& state, LayerShape layer, yolo4::WinogradTile winograd) {
  using namespace yolo4;
  Device device(g_threads, g_isa);
  const Conv2dParams params{layer.in_channels, layer.out_channels, layer.kernel,
                            layer.stride,      layer.kernel / 2,   layer.groups};
  std::vector<float> weight(
      size_t(layer.out_channels) * layer.in_channels / layer.groups * layer.kernel * layer.kernel,
      0.01f);
  std::vector<float> bias(layer.out_channels, 0.1f);
  Conv2dConfig config = g_precision;
  config.activation = layer.groups > 1 ? Activation::kLeaky : Activation::kMish;
  config.winograd = winograd;
  const int side = layer.input_side(g_network_size);
  const Shape in_shape{1, side, side, layer.in_channels};
  if (layer.groups > 1) {
    time_op(state, GroupedConv2d(params, weight, bias, config, device.isa()), in_shape,
            config.dtype, device);
  } else {
    time_op(state, Conv2d(params, weight, bias, config, device.isa()), in_shape, config.dtype,
            device);
  }
}

}  // namespace

int run(int argc, char** argv) {
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      g_threads = std::atoi(argv[i] + 10);
    } else if (std::strncmp(argv[i], "--precision=", 12) == 0) {
      g_precision = parse_precision(argv[i] + 12);
    } else if (std::strncmp(argv[i], "--size=", 7) == 0) {
      g_network_size = std::atoi(argv[i] + 7);
      if (g_network_size < 32 || g_network_size % 32 != 0) {
        std::fprintf(stderr, "conv2d_bench: --size=%s: expected a multiple of 32\n", argv[i] + 7);
        return 2;
      }
    } else if (std::strncmp(argv[i], "--isa=", 6) == 0) {
      g_isa = yolo4::parse_isa(argv[i] + 6);
    } else {
      rest.push_back(argv[i]);
    }
  }
  {
    yolo4::Device device(g_threads, g_isa);
    const yolo4::PeakFlops peak = yolo4::measure_f32_fma_peak(device, 0.5);
    g_peak_gflops = peak.total_gflops;
    std::printf("measured fp32 FMA peak (%s, %d threads): %.1f GFLOP/s total, %.1f per core\n",
                std::string(yolo4::to_string(g_isa)).c_str(), g_threads, peak.total_gflops,
                peak.per_core_gflops);
  }
  for (const LayerShape& layer : kLayers) {
    const std::string name =
        std::string(layer.name) + " @" + std::to_string(layer.input_side(g_network_size));
    benchmark::RegisterBenchmark(name.c_str(), BM_Conv2d, layer, yolo4::WinogradTile::kNone)
        ->Unit(benchmark::kMillisecond);
    if (layer.kernel != 3 || layer.in_channels < 16 || layer.groups > 1) continue;
    for (auto tile :
         {yolo4::WinogradTile::kF2x2, yolo4::WinogradTile::kF4x4, yolo4::WinogradTile::kF6x6,
          yolo4::WinogradTile::kF2x2S2, yolo4::WinogradTile::kF4x4S2}) {
      if (yolo4::kernels::winograd_stride(tile) != layer.stride) continue;
      const std::string winograd_name = name + " winograd " + to_string(tile);
      benchmark::RegisterBenchmark(winograd_name.c_str(), BM_Conv2d, layer, tile)
          ->Unit(benchmark::kMillisecond);
    }
  }
  return yolo4::bench::run_registered(rest);
}

int main(int argc, char** argv) {
  return yolo4::bench::guarded_main("conv2d_bench", run, argc, argv);
}
