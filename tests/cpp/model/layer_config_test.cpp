// The per-layer table (layer_config.cpp): which Winograd tile each conv shape gets under each
// preset and ISA, as the table's comments and docs/perf.md state it.
#include "yolo4/model/layer_config.h"

#include <gtest/gtest.h>

#include "yolo4/model/options.h"

namespace yolo4 {
namespace {

using kernels::WinogradTile;

WinogradTile tile_for(int in, int out, std::string_view preset, int kernel = 3, int stride = 1,
                      int groups = 1, Isa isa = Isa::kAvx512) {
  const ModelOptions options = ModelOptions::preset(preset, isa);
  return conv_config(ConvLayerShape{in, out, kernel, stride, groups}, options).winograd;
}

TEST(WinogradTable, Fp32TakesF6x6To64ChannelsF4x4To256AndF2x2Beyond) {
  EXPECT_EQ(tile_for(32, 64, "fp32"), WinogradTile::kF6x6);
  EXPECT_EQ(tile_for(64, 64, "fp32"), WinogradTile::kF6x6);
  EXPECT_EQ(tile_for(128, 128, "fp32"), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(128, 256, "fp32"), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(256, 256, "fp32"), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(256, 512, "fp32"), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(512, 512, "fp32"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(512, 1024, "fp32"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(1024, 512, "fp32"), WinogradTile::kNone);  // not measured
}

// The ISA-specific rule: AVX2's kernels measured F(6x6) faster at 128 -> 128, AVX-512's not.
TEST(WinogradTable, Fp32TakesF6x6At128ChannelsOnlyWithAvx2Kernels) {
  EXPECT_EQ(tile_for(128, 128, "fp32", 3, 1, 1, Isa::kAvx2), WinogradTile::kF6x6);
  EXPECT_EQ(tile_for(128, 128, "fp32", 3, 1, 1, Isa::kAvx512), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(128, 128, "fp32", 3, 1, 1, Isa::kScalar), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(128, 256, "fp32", 3, 1, 1, Isa::kAvx2), WinogradTile::kF4x4);
}

// Where LoFi's products are native (AVX512_BF16), bf16 takes F(4x4) up to 256 input channels
// (128 on AMX tiles, where the 256-channel ones are bound by their weights' traffic) and F(2x2)
// beyond; fast (bfloat8_b weights) keeps F(2x2).
TEST(WinogradTable, WithNativeBf16ProductsBf16TakesF4x4To256ChannelsFastKeepsF2x2) {
  if (!kernels::native_bf16_products(Isa::kAvx512)) GTEST_SKIP() << "no AVX512_BF16 here";
  for (const auto& [in, out] : {std::pair{32, 64}, {64, 64}, {128, 128}, {128, 256}}) {
    EXPECT_EQ(tile_for(in, out, "bf16"), WinogradTile::kF4x4) << in << "->" << out;
  }
  const WinogradTile at_256 =
      kernels::amx_bf16_products(Isa::kAvx512) ? WinogradTile::kF2x2 : WinogradTile::kF4x4;
  for (const auto& [in, out] : {std::pair{256, 256}, {256, 512}}) {
    EXPECT_EQ(tile_for(in, out, "bf16"), at_256) << in << "->" << out;
  }
  for (const auto& [in, out] : {std::pair{512, 512}, {512, 1024}}) {
    EXPECT_EQ(tile_for(in, out, "bf16"), WinogradTile::kF2x2) << in << "->" << out;
  }
  EXPECT_EQ(tile_for(64, 64, "fast"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(256, 256, "fast"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(512, 1024, "fast"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(32, 64, "fast"), WinogradTile::kNone);
  EXPECT_EQ(tile_for(64, 64, "report"), WinogradTile::kNone);  // the report runs no Winograd
}

// Where LoFi's products are fp32 FMAs on widened operands, a reduced-precision conv that fp32
// runs with a larger tile takes fp32's weights, products and tile, and keeps bf16 activations;
// the others keep their preset's precision and F(2x2).
TEST(WinogradTable, ReducedPrecisionTakesFp32sLargerTilesWhereLoFiIsWidened) {
  for (const Isa isa : {Isa::kAvx2, Isa::kScalar}) {
    ASSERT_FALSE(kernels::native_bf16_products(isa));
    for (std::string_view preset : {"bf16", "fast"}) {
      const ModelOptions options = ModelOptions::preset(preset, isa);
      const ModelOptions fp32 = ModelOptions::preset("fp32", isa);
      for (const auto& [in, out] : {std::pair{32, 64}, {64, 64}, {128, 128}, {256, 256}}) {
        const ConvLayerShape shape{in, out, 3, 1, 1, Activation::kMish};
        const Conv2dConfig c = conv_config(shape, options);
        EXPECT_EQ(c.winograd, conv_config(shape, fp32).winograd) << preset << " " << in;
        EXPECT_EQ(c.weights_dtype, DataType::FLOAT32) << preset << " " << in;
        EXPECT_EQ(c.math_fidelity, MathFidelity::HiFi4) << preset << " " << in;
        EXPECT_EQ(c.dtype, DataType::BFLOAT16) << preset << " " << in;
      }
      const Conv2dConfig deep = conv_config(ConvLayerShape{512, 512, 3, 1, 1}, options);
      EXPECT_EQ(deep.winograd, WinogradTile::kF2x2) << preset;
      EXPECT_EQ(deep.weights_dtype, options.weights_dtype) << preset;
      EXPECT_EQ(deep.math_fidelity, MathFidelity::LoFi) << preset;
      const Conv2dConfig pointwise = conv_config(ConvLayerShape{64, 64, 1, 1, 1}, options);
      EXPECT_EQ(pointwise.weights_dtype, options.weights_dtype) << preset;
    }
    EXPECT_EQ(tile_for(64, 64, "report", 3, 1, 1, isa), WinogradTile::kNone);
    EXPECT_EQ(conv_config(ConvLayerShape{64, 64, 3, 1, 1}, ModelOptions::preset("report", isa))
                  .weights_dtype,
              DataType::BFLOAT8_B);
  }
  EXPECT_EQ(tile_for(128, 128, "bf16", 3, 1, 1, Isa::kAvx2), WinogradTile::kF6x6);
  EXPECT_EQ(tile_for(256, 512, "bf16", 3, 1, 1, Isa::kAvx2), WinogradTile::kF4x4);
}

TEST(WinogradTable, OnlyStride1Ungrouped3x3Convs) {
  EXPECT_EQ(tile_for(64, 64, "fp32", 1), WinogradTile::kNone);
  EXPECT_EQ(tile_for(64, 64, "fp32", 3, 2), WinogradTile::kNone);
  EXPECT_EQ(tile_for(64, 64, "fp32", 3, 1, 64), WinogradTile::kNone);
  ModelOptions no_winograd = ModelOptions::preset("fp32", Isa::kScalar);
  no_winograd.winograd = false;
  EXPECT_EQ(conv_config(ConvLayerShape{64, 64, 3, 1, 1}, no_winograd).winograd,
            WinogradTile::kNone);
}

}  // namespace
}  // namespace yolo4
