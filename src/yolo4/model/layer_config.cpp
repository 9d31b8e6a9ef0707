#include "yolo4/model/layer_config.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>

#include "yolo4/core/cpu_features.h"

namespace yolo4 {

namespace {

// Which precisions a Winograd rule applies to.
enum class WinogradPrecision {
  kAny,
  kFp32,     // float32 weights and HiFi4 products only
  kBf16,     // bfloat16 weights and LoFi products (VDPBF16PS, AMX, or fp32 FMAs on widened bf16)
  kAmxBf16,  // the same on AMX tiles only
  kVdpbf16psBf16,  // the same on VDPBF16PS (AVX512_BF16 without AMX) only
  // products that are fp32 FMAs: HiFi4, or LoFi on widened bf16 operands (no VDPBF16PS or AMX)
  kFmaProducts,
};

// The 3x3 convs that run as Winograd, by stride and channel counts, and the tile each gets.
struct WinogradRule {
  int stride;
  int min_in, max_in, min_out, max_out;
  WinogradPrecision precision;
  std::optional<Isa> isa;       // the kernels it was measured to pay on; empty: every ISA's
  std::optional<CpuCore> core;  // the cores it was measured on; empty: every core's
  WinogradTile tile;
  std::string_view why;
};

// Measured on YOLOv4's stride-1 3x3 shapes with the AVX-512 and the AVX2 kernels
// (`conv2d_bench --precision=P --isa=I --size=320|640`, 2 threads, and single-threaded
// `yolo4 profile` of the whole network, where every layer's weights come from memory; docs/perf.md,
// 2026-12-02); first match wins. fp32: F(6x6) takes 0.66-0.85x F(4x4)'s time at 32->64 and
// 0.80-0.93x at 64->64 with both ISAs' kernels; at 128->128 0.86x with AVX2's in the network but
// 1.10-1.12x with AVX-512's (alone 0.85-1.06x), so only AVX2 takes it there; from 128->256 on it is
// 1.0-2.2x F(4x4) (its 64 positions' weights, 7x the direct conv's, and its 6x6 tiles' waste on
// 20x20 and 10x10 maps). Its error stays below 9e-5 of the output's scale. F(4x4) takes
// 0.60-0.87x F(2x2)'s time up to 256->256 and 128->256 (F(2x2) itself 0.52-0.71x the direct
// conv's), and at 256->512 (20x20) 0.78x with AVX2's kernels and 0.90x with AVX-512's (once the
// kernels prefetched weights 8 KB ahead; 0.99x before); its weights (4x the direct conv's) make
// it 1.4-2.2x slower than F(2x2) at 512->512, where F(2x2) stays. 512->1024 at 10x10 takes F(2x2)
// too since its streamed weights meet the whole map at once (conv2d's Winograd blocking): in the
// network 0.57-0.63x the direct conv's time with AVX2's kernels, 0.60-0.75x with AVX-512's, in
// fp32 (0.77-0.91x in bf16, where it has run since its weights were half of fp32's).
// With bf16 operands or weights the larger tiles' rounding error is 11-26x the direct conv's
// (WinogradError), so reduced precision keeps F(2x2) (0.52-0.67x direct from 64 channels) except
// where F(4x4) pays: bf16 up to 256 input channels. On VDPBF16PS, in the network 0.63x the
// direct conv's time at 32->64, 0.75-0.85x F(2x2)'s to 128->256, 0.88x at 256->256 and 0.77x at
// 256->512; the whole network about 0.87x, its worst head's PCC against fp32 0.99986 -> 0.99976
// (docs/perf.md, 2026-12-02 21:20-22:25 UTC); F(6x6) at 32->64 and 64->64 took 0.81-0.88x and
// 0.84-0.92x F(4x4)'s time there (128->128 0.96x: not taken), the network 0.97x, its worst head's
// PCC 0.99974 -> 0.99971 (AMD Zen 5, docs/perf.md 2026-12-07 02:10 UTC). Where the bf16 products
// are fp32 FMAs on widened operands (AVX2, AVX-512 without AVX512_BF16), the 20x20 maps' 256 -> 256
// and 256 -> 512 are bound by their weights' traffic: bf16's F(4x4) (half of fp32's weights) took
// 0.80x fp32's F(4x4) time there with AVX2's kernels, the whole network 0.95x bf16's time before
// and 0.90x fp32's, its worst head's PCC 0.99996 -> 0.99991 (Xeon, docs/perf.md 2026-12-04 22:55
// UTC); fp32's F(6x6) at 32..128 channels stays (bf16's F(4x4) 0.98-1.12x its time). bfloat8_b's
// F(4x4) error is 20-22x, so fast keeps F(2x2). On AMX tiles (Xeon, 2026-12-04), whose products
// cost a sixth of VDPBF16PS's, the 20x20 maps' 256 -> 256 and 256 -> 512 are bound by their
// weights' memory traffic, where F(2x2)'s (4/9 of F(4x4)'s) took 0.94x F(4x4)'s time in the network
// (`yolo4 profile`, minima of 3 alternated runs); F(4x4) still wins from 32 to 128 input channels
// (0.84-0.91x F(2x2)'s).
//
// Stride 2 (polyphase: 0.69x the direct conv's products with F(2x2), 0.56x with F(4x4)), where the
// products are fp32 FMAs, measured alone (`conv2d_bench --threads=2 --precision=fp32|bf16 --isa=I`,
// medians of 3) and in the network (`yolo4 profile`, minima of 3 alternated runs; docs/perf.md
// 2026-12-05): F(4x4) at 32->64 and 64->128 (alone 0.82-0.86x the direct conv's time with AVX-512's
// kernels, 0.78-0.97x with AVX2's), with AVX2's at 128->256 too (0.74-0.77x; F(2x2) 0.85x); F(2x2)
// from 128 input channels on (AVX-512: 0.78-0.79x, F(4x4) 0.82-0.92x; AVX2 at 256->512 0.75-0.83x,
// where F(4x4) lost on the neck's 10x10 map, 1.28 -> 1.80 ms in the network). At 512->1024 F(2x2)'s
// streamed weights (1.8x the direct conv's) cost AVX-512's fp32 more than its products save (3.44
// -> 3.54 ms in the network), while with AVX2's kernels it took 0.81-0.84x the time. With
// AMX the direct conv's products are cheap: F(2x2) measured 0.91-1.54x its time, so AMX keeps
// it. With VDPBF16PS (AMD Zen 5, bf16; docs/perf.md 2026-12-07 02:10 UTC) the polyphase tiles
// pay as they do on FMAs: F(4x4) took 0.82-0.87x the direct conv's time at 32->64, 0.70-0.82x at
// 64->128, 0.68-0.71x at 128->256 and 0.63-0.65x at 256->512 (F(2x2) 0.72-1.13x), F(2x2)
// 0.69-0.71x at 512->1024 (F(4x4) 1.0x); the whole network 0.91x, its worst head's PCC against
// fp32 0.99976 -> 0.99974. On AMD Zen 5 (docs/perf.md 2026-12-05 21:25 UTC,
// the same method) AVX-512's fp32 measured otherwise at three shapes, its rows listed first: the
// direct conv at 32->64 (alone 3.4-4.1 ms, F(4x4) 4.05-4.3; in the network 2.9-3.9 against
// 3.6-4.7), F(4x4) at 128->256 (alone 2.06-2.46 ms, F(2x2) 2.51-2.68, direct 2.63-2.79) and F(2x2)
// at 512->1024 (alone 2.04-2.27 ms, direct 2.60-2.85; in the network 2.10-2.41 against 2.51-3.07).
// Its AVX2 kernels agreed with the rows measured on the Xeon.
//
// AMD Zen 4 (family 25; docs/perf.md 2026-12-07 08:20 UTC) runs a 512-bit FMA as two halves, so
// AVX-512's fp32 there has AVX2's FLOP rate and its tiles measured as AVX2's do (`conv2d_bench
// --threads=2 --precision=fp32|bf16`, medians of 3; in the network `yolo4 profile`, 3 alternated
// rounds): stride 2 at 32->64 F(4x4) (3.87 ms alone against the direct conv's 4.99; in the network
// 4.05-4.15 against 5.10-5.12), at 128->256 F(4x4) (2.89; F(2x2) 3.31, direct 4.44) and at
// 512->1024 F(2x2) (3.12; direct 4.33); stride 1 F(6x6) at 128->128 and 128->256 (alone 0.89x and
// 0.91x F(4x4)'s time, in the network 0.58-0.60 against 0.66-0.68 ms and 1.09-1.11 against
// 1.23-1.26, minima of 3 rounds). In bf16 on its VDPBF16PS F(6x6) took 0.87x F(4x4)'s time at
// 128->128 (in the network 0.33-0.35 against 0.37-0.39 ms) and 0.90x at 128->256, where it is not
// taken: the latter feed the 40x40 head, whose PCC against fp32 at 640 fell from 0.99974 to 0.99954
// with it (0.99970 with the 128->128 row alone). With AVX2's kernels there (docs/perf.md
// 2026-12-07 22:00 UTC; per-op minima of 3 alternated `yolo4 profile --isa avx2` rounds), fp32's
// F(6x6) at 128->256 took 0.91x F(4x4)'s time in the network (1.18-1.22 against 1.30-1.32 ms), and
// bf16 on widened operands, whose weights are half of fp32's, took F(4x4) at 512->512 and
// 512->1024 (10x10) in 0.90x F(2x2)'s time (1.04-1.07 against 1.13-1.15 ms, 1.92-1.98 against
// 2.16-2.19; F(6x6) level with F(4x4), its error larger).
constexpr std::array<WinogradRule, 24> kWinogradRules{{
    {2, 32, 256, 64, 512, WinogradPrecision::kVdpbf16psBf16, std::nullopt, std::nullopt,
     WinogradTile::kF4x4S2,
     "stride 2, 32..256 -> 64..512 in bf16 on VDPBF16PS: F(4x4), 0.63-0.87x direct"},
    {2, 512, 512, 1024, 1024, WinogradPrecision::kVdpbf16psBf16, std::nullopt, std::nullopt,
     WinogradTile::kF2x2S2,
     "stride 2, 512 -> 1024 in bf16 on VDPBF16PS: F(2x2), 0.69-0.71x direct"},
    {2, 32, 32, 64, 64, WinogradPrecision::kFmaProducts, Isa::kAvx512, CpuCore::kAmdZen5,
     WinogradTile::kNone,
     "stride 2, 32 -> 64 with AVX-512's FMA products on AMD Zen 5: direct, 0.8-0.9x F(4x4)'s time"},
    {2, 128, 128, 256, 256, WinogradPrecision::kFmaProducts, Isa::kAvx512, CpuCore::kAmdZen4,
     WinogradTile::kF4x4S2,
     "stride 2, 128 -> 256 with AVX-512's FMA products on AMD Zen 4: F(4x4), 0.65x direct, 0.87x "
     "F(2x2)"},
    {2, 512, 512, 1024, 1024, WinogradPrecision::kFmaProducts, Isa::kAvx512, CpuCore::kAmdZen4,
     WinogradTile::kF2x2S2,
     "stride 2, 512 -> 1024 with AVX-512's FMA products on AMD Zen 4: F(2x2), 0.72x direct"},
    {2, 128, 128, 256, 256, WinogradPrecision::kFmaProducts, Isa::kAvx512, CpuCore::kAmdZen5,
     WinogradTile::kF4x4S2,
     "stride 2, 128 -> 256 with AVX-512's FMA products on AMD Zen 5: F(4x4), 0.8x direct, 0.85x "
     "F(2x2)"},
    {2, 512, 512, 1024, 1024, WinogradPrecision::kFmaProducts, Isa::kAvx512, CpuCore::kAmdZen5,
     WinogradTile::kF2x2S2,
     "stride 2, 512 -> 1024 with AVX-512's FMA products on AMD Zen 5: F(2x2), 0.8x direct"},
    {2, 32, 64, 64, 128, WinogradPrecision::kFmaProducts, std::nullopt, std::nullopt,
     WinogradTile::kF4x4S2,
     "stride 2, 32..64 -> 64..128 with FMA products: F(4x4), 0.78-0.97x direct"},
    {2, 128, 128, 256, 256, WinogradPrecision::kFmaProducts, Isa::kAvx2, std::nullopt,
     WinogradTile::kF4x4S2,
     "stride 2, 128 -> 256 with AVX2's FMA products: F(4x4), 0.74-0.77x direct"},
    {2, 128, 256, 256, 512, WinogradPrecision::kFmaProducts, std::nullopt, std::nullopt,
     WinogradTile::kF2x2S2,
     "stride 2, 128..256 -> 256..512 with FMA products: F(2x2), 0.75-0.83x direct"},
    {2, 512, 512, 1024, 1024, WinogradPrecision::kFmaProducts, Isa::kAvx2, std::nullopt,
     WinogradTile::kF2x2S2,
     "stride 2, 512 -> 1024 with AVX2's FMA products: F(2x2), 0.79-0.84x direct"},
    {2, 512, 512, 1024, 1024, WinogradPrecision::kFmaProducts, Isa::kScalar, std::nullopt,
     WinogradTile::kF2x2S2,
     "stride 2, 512 -> 1024 with the portable kernels: F(2x2), 0.73x direct"},
    {1, 128, 128, 128, 128, WinogradPrecision::kVdpbf16psBf16, std::nullopt, CpuCore::kAmdZen4,
     WinogradTile::kF6x6,
     "128 -> 128 in bf16 on VDPBF16PS on AMD Zen 4: F(6x6), 0.87-0.89x F(4x4)'s time"},
    {1, 32, 64, 32, 64, WinogradPrecision::kVdpbf16psBf16, std::nullopt, std::nullopt,
     WinogradTile::kF6x6,
     "32..64 -> 32..64 in bf16 on VDPBF16PS: F(6x6), 0.81-0.92x F(4x4)'s time"},
    {1, 256, 256, 256, 512, WinogradPrecision::kAmxBf16, std::nullopt, std::nullopt,
     WinogradTile::kF2x2,
     "256 -> 256..512 in bf16 on AMX: F(2x2), 0.94x F(4x4)'s time (its weights stream)"},
    {1, 512, 512, 512, 1024, WinogradPrecision::kBf16, Isa::kAvx2, CpuCore::kAmdZen4,
     WinogradTile::kF4x4,
     "512 -> 512..1024 in bf16 with AVX2's kernels on AMD Zen 4: F(4x4), 0.90x F(2x2)'s time"},
    {1, 32, 256, 32, 512, WinogradPrecision::kBf16, std::nullopt, std::nullopt, WinogradTile::kF4x4,
     "32..256 -> 32..512 in bf16: F(4x4), 0.63x direct at 32->64, 0.75-0.88x F(2x2)"},
    {1, 32, 64, 32, 64, WinogradPrecision::kFp32, std::nullopt, std::nullopt, WinogradTile::kF6x6,
     "32..64 -> 32..64 in fp32: F(6x6), 0.66-0.93x F(4x4)'s time"},
    {1, 128, 128, 128, 256, WinogradPrecision::kFp32, Isa::kAvx512, CpuCore::kAmdZen4,
     WinogradTile::kF6x6,
     "128 -> 128..256 in fp32 with AVX-512's kernels on AMD Zen 4: F(6x6), 0.89-0.91x F(4x4)'s "
     "time"},
    {1, 128, 128, 256, 256, WinogradPrecision::kFp32, Isa::kAvx2, CpuCore::kAmdZen4,
     WinogradTile::kF6x6,
     "128 -> 256 in fp32 with AVX2's kernels on AMD Zen 4: F(6x6), 0.91x F(4x4)'s time"},
    {1, 128, 128, 128, 128, WinogradPrecision::kFp32, Isa::kAvx2, std::nullopt, WinogradTile::kF6x6,
     "128 -> 128 in fp32 on AVX2: F(6x6), 0.86x F(4x4)'s time (1.10x with AVX-512's kernels)"},
    {1, 32, 256, 32, 512, WinogradPrecision::kFp32, std::nullopt, std::nullopt, WinogradTile::kF4x4,
     "32..256 -> 32..512 in fp32: F(4x4), 0.60-0.90x F(2x2)'s time"},
    {1, 64, 512, 64, 512, WinogradPrecision::kAny, std::nullopt, std::nullopt, WinogradTile::kF2x2,
     "64..512 -> 64..512: F(2x2), 0.52-0.71x direct"},
    {1, 257, 1024, 513, 1024, WinogradPrecision::kAny, std::nullopt, std::nullopt,
     WinogradTile::kF2x2, "512 -> 1024: F(2x2), 0.57-0.91x direct (its weights streamed once)"},
}};

bool applies(WinogradPrecision precision, const ModelOptions& options) {
  switch (precision) {
    case WinogradPrecision::kAny:
      return true;
    case WinogradPrecision::kFp32:
      return options.weights_dtype == DataType::FLOAT32 &&
             options.math_fidelity == MathFidelity::HiFi4;
    case WinogradPrecision::kBf16:
      return options.weights_dtype == DataType::BFLOAT16 &&
             options.math_fidelity == MathFidelity::LoFi;
    case WinogradPrecision::kAmxBf16:
      return applies(WinogradPrecision::kBf16, options) && kernels::amx_bf16_products(options.isa);
    case WinogradPrecision::kVdpbf16psBf16:
      return applies(WinogradPrecision::kBf16, options) &&
             kernels::native_bf16_products(options.isa) && !kernels::amx_bf16_products(options.isa);
    case WinogradPrecision::kFmaProducts:
      return options.math_fidelity == MathFidelity::HiFi4 ||
             !kernels::native_bf16_products(options.isa);
  }
  return false;
}

// The first rule that matches the conv, if any.
const WinogradRule* winograd_rule(const ConvLayerShape& s, const ModelOptions& options) {
  if (!options.winograd || s.kernel != 3 || s.groups != 1) return nullptr;
  for (const WinogradRule& r : kWinogradRules) {
    if (s.stride == r.stride && s.in_channels >= r.min_in && s.in_channels <= r.max_in &&
        s.out_channels >= r.min_out && s.out_channels <= r.max_out &&
        applies(r.precision, options) && (!r.isa || *r.isa == options.isa) &&
        runs_on_this_core(r.core)) {
      return &r;
    }
  }
  return nullptr;
}

WinogradTile tile_of(const WinogradRule* rule) {
  return rule ? rule->tile : WinogradTile::kNone;
}

// bfloat8_b shares one exponent per 16 weights. A grouped conv's weights are few (k x k per
// channel) and differ widely between channels, so a shared exponent costs accuracy for no
// bandwidth: on Yolo-Fastest, bfloat8_b depthwise weights lose 24 of 28 detections against
// fp32 on the sample images; bfloat16 keeps them.
DataType weights_dtype_for(const ConvLayerShape& s, const ModelOptions& options) {
  if (s.groups > 1 && options.weights_dtype == DataType::BFLOAT8_B) return DataType::BFLOAT16;
  return options.weights_dtype;
}

ModelOptions with_fp32_products(ModelOptions options) {
  options.weights_dtype = DataType::FLOAT32;
  options.math_fidelity = MathFidelity::HiFi4;
  return options;
}

// Where LoFi's products are fp32 FMAs on widened operands (no AVX512_BF16), they cost what
// HiFi4's do and bf16 weights save only memory traffic, which the compute-bound convs that fp32
// runs with a larger Winograd tile do not lack. Such a conv keeps its preset's activations and
// takes fp32's weights, products and tile: with AVX2's kernels, bf16's F(2x2) took 1.1-1.6x
// fp32's F(4x4)/F(6x6) time on those layers (docs/perf.md, 2026-12-02 14:00-15:20 UTC), and
// bf16's F(4x4) 0.98-1.12x fp32's F(6x6). fast's bfloat8_b weights keep F(2x2) (their F(4x4)
// error 20-22x the direct conv's), so it takes fp32's tile wherever that is larger.
struct WinogradChoice {
  const WinogradRule* rule = nullptr;  // the row behind the tile; none: direct
  bool fp32_products = false;          // the conv takes fp32's weights, products and row
};

WinogradChoice choose_winograd(const ConvLayerShape& s, const ModelOptions& options) {
  const WinogradRule* own = winograd_rule(s, options);
  if (kernels::native_bf16_products(options.isa)) return {own, false};
  const WinogradRule* fp32 = winograd_rule(s, with_fp32_products(options));
  if (kernels::winograd_side(tile_of(fp32)) > kernels::winograd_side(tile_of(own))) {
    return {fp32, true};
  }
  return {own, false};
}

}  // namespace

Conv2dConfig conv_config(const ConvLayerShape& shape, const ModelOptions& options) {
  Conv2dConfig config;
  config.dtype = shape.feeds_decoder ? DataType::FLOAT32 : options.dtype;
  config.weights_dtype = weights_dtype_for(shape, options);
  config.compact_weights = options.compact_weights;
  config.math_fidelity = options.math_fidelity;
  config.math_approx_mode = options.math_approx_mode;
  config.activation = shape.activation;
  const WinogradChoice winograd = choose_winograd(shape, options);
  config.winograd = tile_of(winograd.rule);
  if (winograd.fp32_products) {
    config.weights_dtype = DataType::FLOAT32;
    config.math_fidelity = MathFidelity::HiFi4;
  }
  return config;
}

std::string_view winograd_reason(const ConvLayerShape& shape, const ModelOptions& options) {
  if (shape.kernel != 3 || shape.groups != 1) return "";
  if (!options.winograd) return "Winograd off";
  const WinogradRule* rule = choose_winograd(shape, options).rule;
  return rule ? rule->why : "no Winograd rule for this shape and precision: direct";
}

Conv2dConfig conv_config(const ConvSpec& spec, const ModelOptions& options) {
  return conv_config({spec.in_channels, spec.out_channels, spec.kernel, spec.stride, 1,
                      spec.activation, !spec.batch_norm},
                     options);
}

}  // namespace yolo4
