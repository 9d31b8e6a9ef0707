// The per-layer table (layer_config.cpp): which Winograd tile each conv shape gets under each
// preset and ISA, as the table's comments and docs/perf.md state it.
#include "yolo4/model/layer_config.h"

#include <gtest/gtest.h>

#include <string>

#include "yolo4/core/cpu_features.h"
#include "yolo4/model/options.h"

namespace yolo4 {
namespace {

using kernels::WinogradTile;

WinogradTile tile_for(int in, int out, std::string_view preset, int kernel = 3, int stride = 1,
                      int groups = 1, Isa isa = Isa::kAvx512) {
  const ModelOptions options = ModelOptions::preset(preset, isa);
  return conv_config(ConvLayerShape{in, out, kernel, stride, groups}, options).winograd;
}

bool on_zen4() {
  return cpu_features().core == CpuCore::kAmdZen4;
}

// (AVX-512's kernels on AMD Zen 4 take F(6x6) at 128 input channels too: the next test.)
TEST(WinogradTable, Fp32TakesF6x6To64ChannelsF4x4To256AndF2x2Beyond) {
  const WinogradTile at_128 = on_zen4() ? WinogradTile::kF6x6 : WinogradTile::kF4x4;
  EXPECT_EQ(tile_for(32, 64, "fp32"), WinogradTile::kF6x6);
  EXPECT_EQ(tile_for(64, 64, "fp32"), WinogradTile::kF6x6);
  EXPECT_EQ(tile_for(128, 128, "fp32"), at_128);
  EXPECT_EQ(tile_for(128, 256, "fp32"), at_128);
  EXPECT_EQ(tile_for(256, 256, "fp32"), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(256, 512, "fp32"), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(512, 512, "fp32"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(512, 1024, "fp32"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(1024, 512, "fp32"), WinogradTile::kNone);  // not measured
}

// The ISA- and core-specific rules: AVX2's kernels measured F(6x6) faster at 128 -> 128, AVX-512's
// only on AMD Zen 4 (whose AVX-512 FMAs have AVX2's throughput), where both took it at 128 -> 256
// too.
TEST(WinogradTable, Fp32TakesF6x6At128ChannelsWithAvx2KernelsAndOnZen4) {
  const WinogradTile zen4_only = on_zen4() ? WinogradTile::kF6x6 : WinogradTile::kF4x4;
  EXPECT_EQ(tile_for(128, 128, "fp32", 3, 1, 1, Isa::kAvx2), WinogradTile::kF6x6);
  EXPECT_EQ(tile_for(128, 128, "fp32", 3, 1, 1, Isa::kAvx512), zen4_only);
  EXPECT_EQ(tile_for(128, 256, "fp32", 3, 1, 1, Isa::kAvx512), zen4_only);
  EXPECT_EQ(tile_for(128, 256, "fp32", 3, 1, 1, Isa::kAvx2), zen4_only);
  EXPECT_EQ(tile_for(128, 128, "fp32", 3, 1, 1, Isa::kScalar), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(128, 256, "fp32", 3, 1, 1, Isa::kScalar), WinogradTile::kF4x4);
}

// bf16 takes F(4x4) from 128 to 256 input channels on every ISA (on AMX tiles only at 128, where
// the 256-channel ones are bound by their weights' traffic) and F(2x2) beyond; the report runs no
// Winograd. Where LoFi is widened on AMD Zen 4 (AVX2's kernels, or AVX-512's with
// YOLO4_CPU_DISABLE=avx512_bf16) it takes fp32's F(6x6) at 128 -> 256, and with AVX2's kernels
// there F(4x4) at 512 channels too.
TEST(WinogradTable, Bf16TakesF4x4To256Channels) {
  const bool amx = kernels::amx_bf16_products(Isa::kAvx512);
  for (const Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar}) {
    const bool zen4_widened =
        on_zen4() && isa != Isa::kScalar && !kernels::native_bf16_products(isa);
    const WinogradTile at_128 = zen4_widened ? WinogradTile::kF6x6 : WinogradTile::kF4x4;
    EXPECT_EQ(tile_for(128, 256, "bf16", 3, 1, 1, isa), at_128) << to_string(isa);
    const WinogradTile at_256 =
        isa == Isa::kAvx512 && amx ? WinogradTile::kF2x2 : WinogradTile::kF4x4;
    for (const auto& [in, out] : {std::pair{256, 256}, {256, 512}}) {
      EXPECT_EQ(tile_for(in, out, "bf16", 3, 1, 1, isa), at_256) << in << "->" << out;
    }
    const WinogradTile at_512 =
        on_zen4() && isa == Isa::kAvx2 ? WinogradTile::kF4x4 : WinogradTile::kF2x2;
    for (const auto& [in, out] : {std::pair{512, 512}, {512, 1024}}) {
      EXPECT_EQ(tile_for(in, out, "bf16", 3, 1, 1, isa), at_512) << in << "->" << out;
    }
    EXPECT_EQ(tile_for(64, 64, "report", 3, 1, 1, isa), WinogradTile::kNone);
  }
}

// Where LoFi's products are native (AVX512_BF16), bf16 takes F(4x4) from 32 channels on (F(6x6)
// to 64 channels on VDPBF16PS, not on AMX, and to 128 on AMD Zen 4's) and fast (bfloat8_b
// weights) keeps F(2x2).
TEST(WinogradTable, WithNativeBf16ProductsBf16TakesF4x4From32ChannelsFastKeepsF2x2) {
  if (!kernels::native_bf16_products(Isa::kAvx512)) GTEST_SKIP() << "no AVX512_BF16 here";
  const WinogradTile to_64 =
      kernels::amx_bf16_products(Isa::kAvx512) ? WinogradTile::kF4x4 : WinogradTile::kF6x6;
  for (const auto& [in, out] : {std::pair{32, 64}, {64, 64}}) {
    EXPECT_EQ(tile_for(in, out, "bf16"), to_64) << in << "->" << out;
  }
  const bool zen4_vdpbf16ps = on_zen4() && !kernels::amx_bf16_products(Isa::kAvx512);
  EXPECT_EQ(tile_for(128, 128, "bf16"), zen4_vdpbf16ps ? WinogradTile::kF6x6 : WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(64, 64, "fast"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(256, 256, "fast"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(512, 1024, "fast"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(32, 64, "fast"), WinogradTile::kNone);
}

// Where LoFi's products are fp32 FMAs on widened operands, a reduced-precision conv that fp32
// runs with a larger tile than its preset's takes fp32's weights, products and tile, and keeps
// bf16 activations; the others keep their preset's precision.
TEST(WinogradTable, ReducedPrecisionTakesFp32sLargerTilesWhereLoFiIsWidened) {
  struct Case {
    std::string_view preset;
    int in, out;
    bool fp32_products;
    WinogradTile tile;
  };
  // The same on AVX2 and the scalar kernels but at 128 -> 128, where fp32 takes F(6x6) only on
  // AVX2 (the scalar kernels' cases follow), and on AMD Zen 4 (the AVX2 cases after those).
  constexpr Case kEitherIsa[] = {
      {"bf16", 32, 64, true, WinogradTile::kF6x6},
      {"bf16", 64, 64, true, WinogradTile::kF6x6},
      {"bf16", 256, 256, false, WinogradTile::kF4x4},
      {"bf16", 256, 512, false, WinogradTile::kF4x4},
      {"fast", 32, 64, true, WinogradTile::kF6x6},
      {"fast", 256, 256, true, WinogradTile::kF4x4},
      {"fast", 256, 512, true, WinogradTile::kF4x4},
      {"fast", 512, 512, false, WinogradTile::kF2x2},
  };
  constexpr Case kAvx2At128[] = {{"bf16", 128, 128, true, WinogradTile::kF6x6},
                                 {"fast", 128, 128, true, WinogradTile::kF6x6}};
  constexpr Case kScalarAt128[] = {{"bf16", 128, 128, false, WinogradTile::kF4x4},
                                   {"fast", 128, 128, true, WinogradTile::kF4x4}};
  const auto check = [](Isa isa, const Case& k) {
    const ModelOptions options = ModelOptions::preset(k.preset, isa);
    const Conv2dConfig c = conv_config(ConvLayerShape{k.in, k.out, 3, 1, 1}, options);
    const std::string what = std::string(k.preset) + " " + std::to_string(k.in) + "->" +
                             std::to_string(k.out) + " " + std::string(to_string(isa));
    EXPECT_EQ(c.winograd, k.tile) << what;
    EXPECT_EQ(c.weights_dtype, k.fp32_products ? DataType::FLOAT32 : options.weights_dtype) << what;
    EXPECT_EQ(c.math_fidelity, k.fp32_products ? MathFidelity::HiFi4 : MathFidelity::LoFi) << what;
    EXPECT_EQ(c.dtype, DataType::BFLOAT16) << what;
  };
  constexpr Case kElsewhere[] = {{"bf16", 128, 256, false, WinogradTile::kF4x4},
                                 {"bf16", 512, 512, false, WinogradTile::kF2x2}};
  constexpr Case kAvx2OnZen4[] = {{"bf16", 128, 256, true, WinogradTile::kF6x6},
                                  {"bf16", 512, 512, false, WinogradTile::kF4x4}};
  for (const Case& k : kAvx2At128) check(Isa::kAvx2, k);
  for (const Case& k : kScalarAt128) check(Isa::kScalar, k);
  for (const Case& k : kElsewhere) check(Isa::kScalar, k);
  for (const Case& k : on_zen4() ? kAvx2OnZen4 : kElsewhere) check(Isa::kAvx2, k);
  for (const Isa isa : {Isa::kAvx2, Isa::kScalar}) {
    ASSERT_FALSE(kernels::native_bf16_products(isa));
    for (const Case& k : kEitherIsa) check(isa, k);
    const ModelOptions fast = ModelOptions::preset("fast", isa);
    EXPECT_EQ(conv_config(ConvLayerShape{64, 64, 1, 1, 1}, fast).weights_dtype,
              DataType::BFLOAT8_B);
    EXPECT_EQ(conv_config(ConvLayerShape{64, 64, 3, 1, 1}, ModelOptions::preset("report", isa))
                  .weights_dtype,
              DataType::BFLOAT8_B);
  }
}

// Stride 2 runs Winograd where the products are fp32 FMAs (fp32 everywhere, bf16 where LoFi is
// widened), with the tile measured per ISA, and in bf16 on VDPBF16PS; on AMX tiles the direct
// conv stays.
TEST(WinogradTable, Stride2WhereTheProductsAreFmas) {
  using enum WinogradTile;
  struct Case {
    int in, out;
    WinogradTile avx512, avx2, scalar;
  };
  // AVX-512's fp32 measured otherwise on AMD's cores at three shapes (Zen 4 at two of them).
  const bool zen5 = cpu_features().core == CpuCore::kAmdZen5;
  const bool amd = zen5 || on_zen4();
  const Case kCases[] = {
      {32, 64, zen5 ? kNone : kF4x4S2, kF4x4S2, kF4x4S2},
      {64, 128, kF4x4S2, kF4x4S2, kF4x4S2},
      {128, 256, amd ? kF4x4S2 : kF2x2S2, kF4x4S2, kF2x2S2},
      {256, 512, kF2x2S2, kF2x2S2, kF2x2S2},
      {512, 1024, amd ? kF2x2S2 : kNone, kF2x2S2, kF2x2S2},
      {16, 32, kNone, kNone, kNone},  // not measured
  };
  for (const Case& c : kCases) {
    for (const auto& [isa, tile] :
         {std::pair{Isa::kAvx512, c.avx512}, {Isa::kAvx2, c.avx2}, {Isa::kScalar, c.scalar}}) {
      EXPECT_EQ(tile_for(c.in, c.out, "fp32", 3, 2, 1, isa), tile)
          << c.in << "->" << c.out << " " << to_string(isa);
      if (isa != Isa::kAvx512) {
        const Conv2dConfig bf16 =
            conv_config(ConvLayerShape{c.in, c.out, 3, 2, 1}, ModelOptions::preset("bf16", isa));
        EXPECT_EQ(bf16.winograd, tile) << "bf16 " << c.in << "->" << c.out << " " << to_string(isa);
        EXPECT_EQ(bf16.weights_dtype, DataType::BFLOAT16) << "bf16's own weights";
      }
      EXPECT_EQ(tile_for(c.in, c.out, "report", 3, 2, 1, isa), kNone);
    }
  }
  if (kernels::amx_bf16_products(Isa::kAvx512)) {
    EXPECT_EQ(tile_for(64, 128, "bf16", 3, 2), kNone) << "AMX products: direct";
  } else if (kernels::native_bf16_products(Isa::kAvx512)) {
    for (const auto& [in, out] : {std::pair{32, 64}, {64, 128}, {128, 256}, {256, 512}}) {
      EXPECT_EQ(tile_for(in, out, "bf16", 3, 2), kF4x4S2) << "VDPBF16PS " << in << "->" << out;
    }
    EXPECT_EQ(tile_for(512, 1024, "bf16", 3, 2), kF2x2S2) << "VDPBF16PS";
    EXPECT_EQ(tile_for(64, 128, "fast", 3, 2), kNone) << "bfloat8_b weights: direct";
  }
}

// bench --explain prints, for each 3x3 conv, the row its tile came from: the row of the
// precision that runs (fp32's, where a reduced preset takes fp32's products), or why none did.
TEST(WinogradTable, ReasonNamesTheRowBehindTheTile) {
  const auto reason = [](int in, int out, std::string_view preset, Isa isa, int kernel = 3,
                         int stride = 1) {
    return std::string(winograd_reason(ConvLayerShape{in, out, kernel, stride, 1},
                                       ModelOptions::preset(preset, isa)));
  };
  EXPECT_EQ(reason(32, 64, "fp32", Isa::kAvx2),
            "32..64 -> 32..64 in fp32: F(6x6), 0.66-0.93x F(4x4)'s time");
  EXPECT_EQ(reason(32, 64, "bf16", Isa::kAvx2), reason(32, 64, "fp32", Isa::kAvx2))
      << "widened LoFi takes fp32's tile, and its reason";
  EXPECT_NE(reason(256, 512, "bf16", Isa::kAvx2).find("in bf16: F(4x4)"), std::string::npos);
  EXPECT_NE(reason(16, 32, "fp32", Isa::kAvx2, 3, 2).find("no Winograd rule"), std::string::npos);
  EXPECT_EQ(reason(64, 64, "fp32", Isa::kAvx2, 1), "") << "1x1: not a Winograd conv";
  ModelOptions direct = ModelOptions::preset("fp32", Isa::kAvx2);
  direct.winograd = false;
  EXPECT_EQ(winograd_reason(ConvLayerShape{64, 64, 3, 1, 1}, direct), "Winograd off");
}

TEST(WinogradTable, OnlyUngrouped3x3Convs) {
  EXPECT_EQ(tile_for(64, 64, "fp32", 1), WinogradTile::kNone);
  EXPECT_EQ(tile_for(64, 64, "fp32", 3, 1, 64), WinogradTile::kNone);
  EXPECT_EQ(tile_for(64, 128, "fp32", 3, 2, 64), WinogradTile::kNone);
  ModelOptions no_winograd = ModelOptions::preset("fp32", Isa::kScalar);
  no_winograd.winograd = false;
  EXPECT_EQ(conv_config(ConvLayerShape{64, 64, 3, 1, 1}, no_winograd).winograd,
            WinogradTile::kNone);
  EXPECT_EQ(conv_config(ConvLayerShape{64, 128, 3, 2, 1}, no_winograd).winograd,
            WinogradTile::kNone);
}

}  // namespace
}  // namespace yolo4
