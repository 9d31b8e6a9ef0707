// The per-layer table (layer_config.cpp): which Winograd tile each conv shape gets under each
// preset, as the table's comments and docs/perf.md state it.
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
  EXPECT_EQ(tile_for(256, 512, "fp32"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(512, 512, "fp32"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(512, 1024, "fp32"), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(1024, 512, "fp32"), WinogradTile::kNone);  // not measured
}

// The ISA-specific rules: AVX2's kernels measured F(6x6) faster at 128 -> 128 and F(4x4) at
// 256 -> 512, AVX-512's not.
TEST(WinogradTable, Fp32TakesF6x6At128ChannelsOnlyWithAvx2Kernels) {
  EXPECT_EQ(tile_for(128, 128, "fp32", 3, 1, 1, Isa::kAvx2), WinogradTile::kF6x6);
  EXPECT_EQ(tile_for(128, 128, "fp32", 3, 1, 1, Isa::kAvx512), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(128, 128, "fp32", 3, 1, 1, Isa::kScalar), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(128, 256, "fp32", 3, 1, 1, Isa::kAvx2), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(128, 128, "bf16", 3, 1, 1, Isa::kAvx2), WinogradTile::kF2x2);
  // And F(4x4) at 256 -> 512.
  EXPECT_EQ(tile_for(256, 512, "fp32", 3, 1, 1, Isa::kAvx2), WinogradTile::kF4x4);
  EXPECT_EQ(tile_for(256, 512, "fp32", 3, 1, 1, Isa::kAvx512), WinogradTile::kF2x2);
  EXPECT_EQ(tile_for(256, 512, "bf16", 3, 1, 1, Isa::kAvx2), WinogradTile::kF2x2);
}

TEST(WinogradTable, ReducedPrecisionKeepsF2x2) {
  for (std::string_view preset : {"bf16", "fast"}) {
    EXPECT_EQ(tile_for(64, 64, preset), WinogradTile::kF2x2) << preset;
    EXPECT_EQ(tile_for(256, 256, preset), WinogradTile::kF2x2) << preset;
    EXPECT_EQ(tile_for(512, 1024, preset), WinogradTile::kF2x2) << preset;
    EXPECT_EQ(tile_for(32, 64, preset), WinogradTile::kNone) << preset;
  }
  EXPECT_EQ(tile_for(64, 64, "report"), WinogradTile::kNone);  // the report runs no Winograd
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
