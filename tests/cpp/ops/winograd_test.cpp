// Winograd F(2x2, 3x3), F(4x4, 3x3) and F(6x6, 3x3) conv2d: every ISA and tile against the naive
// direct reference on awkward shapes, and each tile's error in every precision mode measured
// against the direct conv's on YOLOv4's channel counts.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>

#include "op_test_util.h"
#include "test_util.h"
#include "yolo4/core/error.h"
#include "yolo4/ops/conv2d.h"
#include "yolo4/ops/conv2d_winograd.h"
#include "yolo4/ops/layout.h"
#include "yolo4/ops/reference.h"

namespace yolo4 {
namespace {

using kernels::WinogradTile;
using testing::all_close;
using testing::random_vector;

constexpr WinogradTile kTiles[] = {WinogradTile::kF2x2, WinogradTile::kF4x4, WinogradTile::kF6x6};
constexpr WinogradTile kTilesS2[] = {WinogradTile::kF2x2S2, WinogradTile::kF4x4S2};
constexpr WinogradTile kAllTiles[] = {WinogradTile::kF2x2, WinogradTile::kF4x4, WinogradTile::kF6x6,
                                      WinogradTile::kF2x2S2, WinogradTile::kF4x4S2};

// The 3x3 conv a tile runs: stride 1 or 2.
Conv2dParams params_for(WinogradTile tile, int in_channels, int out_channels, int padding = 1) {
  return {in_channels, out_channels, 3, kernels::winograd_stride(tile), padding};
}

Shape conv_output_shape(const Shape& in, const Conv2dParams& p) {
  const auto side = [&](int s) { return (s + 2 * p.padding - p.kernel) / p.stride + 1; };
  return {in.n, side(in.h), side(in.w), p.out_channels};
}

struct WinogradCase {
  Shape in;
  int out_channels, padding;
};

std::string case_name(const WinogradCase& c) {
  return detail::concat(c.in.n, "x", c.in.h, "x", c.in.w, "x", c.in.c, "_o", c.out_channels, "_p",
                        c.padding);
}

const WinogradCase kCases[] = {
    {{1, 7, 5, 16}, 32, 1},    // odd sizes: partial tiles on both edges
    {{2, 6, 9, 17}, 20, 1},    // batch 2, C and OC not multiples of 16
    {{1, 1, 1, 40}, 48, 1},    // one pixel: a single tile, mostly padding
    {{1, 5, 7, 600}, 33, 1},   // reduction longer than the direct conv's K chunk
    {{1, 6, 8, 32}, 64, 0},    // no padding
    {{1, 23, 19, 64}, 96, 1},  // many tiles: several blocks and groups per core
    {{1, 13, 10, 24}, 16, 1},  // F(4x4): 1, 2 and 3 rows or columns left at the edges
    {{1, 16, 15, 16}, 24, 1},  // F(6x6): 4 and 3 rows or columns left at the edges
    {{1, 10, 10, 32}, 40, 1},  // 25 tiles (F(2x2)): 5 x 5 on AVX2's 6-row kernel (tile_fill)
};

using WinogradParam = std::tuple<Isa, WinogradTile, WinogradCase, Activation>;

std::string test_name(const ::testing::TestParamInfo<WinogradParam>& info) {
  const auto& [isa, tile, c, activation] = info.param;
  return detail::concat(to_string(isa), "_F", kernels::winograd_side(tile),
                        kernels::winograd_stride(tile) == 2 ? "s2_" : "_", case_name(c), "_",
                        to_string(activation));
}

double rms(const std::vector<float>& values) {
  double sum_sq = 0;
  for (float v : values) sum_sq += double(v) * v;
  return std::sqrt(sum_sq / double(values.size()));
}

class WinogradTest : public ::testing::TestWithParam<WinogradParam> {};

TEST_P(WinogradTest, MatchesDirectReference) {
  const auto [isa, tile, c, activation] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const Conv2dParams params = params_for(tile, c.in.c, c.out_channels, c.padding);
  const auto input = random_vector(size_t(c.in.elements()), 1);
  const auto weight = random_vector(size_t(c.out_channels) * c.in.c * 9, 2);
  const auto bias = random_vector(size_t(c.out_channels), 3);
  const auto expected = reference::conv2d(input, c.in, weight, bias, c.out_channels, 3,
                                          params.stride, c.padding, activation);
  // The rounding error of F(4x4) and F(6x6) grows with the conv's scale (the RMS of its output
  // before the activation, which may squash it): measured up to 4.5e-5 and 9e-5 of it
  // (WinogradError below), bounded here by 1e-4 and 2e-4 of it.
  const double conv_scale = rms(reference::conv2d(input, c.in, weight, bias, c.out_channels, 3,
                                                  params.stride, c.padding, Activation::kNone));
  const float abs_tolerance = kernels::winograd_side(tile) == 2 ? 1e-4f
                              : tile == WinogradTile::kF6x6
                                  ? 2e-4f * std::max(1.0f, float(conv_scale))
                                  : 1e-4f * std::max(1.0f, float(conv_scale));
  for (int threads : {1, 2, 3}) {
    for (auto shard : {TensorMemoryLayout::HEIGHT_SHARDED, TensorMemoryLayout::WIDTH_SHARDED,
                       TensorMemoryLayout::BLOCK_SHARDED}) {
      for (int block : {0, 1}) {  // automatic, and the smallest block (one MR row of tiles)
        Device device(threads, isa);
        Conv2dConfig config;
        config.activation = activation;
        config.shard_layout = shard;
        config.winograd = tile;
        config.act_block_h_override = block;
        const Conv2d conv(params, weight, bias, config, isa);
        ASSERT_EQ(conv.strategy(c.in, threads).winograd, tile);
        Tensor in = from_nhwc(input.data(), c.in, block ? Layout::ROW_MAJOR : Layout::TILE);
        Tensor out = conv(device, in);
        EXPECT_TRUE(all_close(to_nhwc(out), expected, abs_tolerance, 1e-4f))
            << conv.kernel_name() << " " << to_string(tile) << " threads=" << threads << " "
            << to_string(shard) << " block=" << block;
        EXPECT_TRUE(testing::tile_output_ok(out));  // padding channels written as zeros
      }
    }
  }
}

// The output transform hands its tiles to the direct conv's fused epilogue, which conv2d_test.cpp
// checks with every activation; here none (no activation pass), mish (YOLOv4's), and logistic
// (f(0) != 0 on a TILE output's padding).
constexpr Activation kEpiloguePaths[] = {Activation::kNone, Activation::kMish,
                                         Activation::kLogistic};

INSTANTIATE_TEST_SUITE_P(
    AllIsas, WinogradTest,
    ::testing::Combine(::testing::Values(Isa::kAvx512, Isa::kAvx2, Isa::kScalar),
                       ::testing::ValuesIn(kTiles), ::testing::ValuesIn(kCases),
                       ::testing::ValuesIn(kEpiloguePaths)),
    test_name);

// Stride 2's tiles on the same shapes (their outputs half the size).
INSTANTIATE_TEST_SUITE_P(
    Stride2, WinogradTest,
    ::testing::Combine(::testing::Values(Isa::kAvx512, Isa::kAvx2, Isa::kScalar),
                       ::testing::ValuesIn(kTilesS2), ::testing::ValuesIn(kCases),
                       ::testing::ValuesIn(kEpiloguePaths)),
    test_name);

// Where the weights outweigh the input they meet, one block spans the share and MR-rows share
// each weight panel in groups, the last one short (checked against the reference here); where
// the input outweighs them, an L2-sized block meets the panels one MR-row at a time.
TEST(WinogradBlocking, GroupsMrRowsWhereTheWeightsStream) {
  const Shape streamed{1, 34, 34, 16};
  const int oc = 320;
  const auto input = random_vector(size_t(streamed.elements()), 1);
  const auto weight = random_vector(size_t(oc) * 16 * 9, 2);
  const auto bias = random_vector(oc, 3);
  const auto expected =
      reference::conv2d(input, streamed, weight, bias, oc, 3, 1, 1, Activation::kMish);
  for (Isa isa : supported_isas()) {
    const int mr = kernels::kernel_table(isa).conv_hifi4.mr;
    Conv2dConfig config;
    config.winograd = WinogradTile::kF2x2;
    config.activation = Activation::kMish;
    const Conv2d wide({16, oc, 3, 1, 1}, weight, bias, config, isa);
    const ConvStrategy s = wide.strategy(streamed, 1);
    const int64_t rows =
        (winograd::tile_count(s.winograd, wide.output_shape(streamed)) + mr - 1) / mr;
    EXPECT_GT(s.group_tiles, 1) << to_string(isa);
    EXPECT_LT(s.group_tiles, rows) << to_string(isa) << ": a group short of the block";
    EXPECT_GE(s.block_pixels / mr, rows) << to_string(isa) << ": one block for the share";
    for (int threads : {1, 2}) {
      Device device(threads, isa);
      EXPECT_TRUE(all_close(to_nhwc(wide(device, from_nhwc(input.data(), streamed))), expected,
                            1e-4f, 1e-4f))
          << wide.kernel_name() << " threads=" << threads;
    }

    config.winograd = WinogradTile::kF6x6;
    const Shape large_map{1, 160, 160, 32};
    const Conv2d narrow({32, 64, 3, 1, 1}, random_vector(64 * 32 * 9, 3), random_vector(64, 4),
                        config, isa);
    const ConvStrategy t = narrow.strategy(large_map, 1);
    const int64_t map_rows =
        (winograd::tile_count(t.winograd, narrow.output_shape(large_map)) + mr - 1) / mr;
    EXPECT_EQ(t.group_tiles, 1) << to_string(isa);
    EXPECT_LT(t.block_pixels / mr, map_rows) << to_string(isa) << ": L2-sized blocks";
  }
}

// The residual add fused after the activation, into a channel slice of a concat output, in
// bfloat16: what the model's resblocks do.
TEST(WinogradFusion, ResidualIntoBf16Slice) {
  const Shape in_shape{1, 9, 6, 48};
  const int oc = 40;
  const auto input = random_vector(size_t(in_shape.elements()), 4);
  const auto weight = random_vector(size_t(oc) * in_shape.c * 9, 5, -0.2f, 0.2f);
  const auto bias = random_vector(oc, 6);
  for (WinogradTile tile : kAllTiles) {
    const Conv2dParams params = params_for(tile, in_shape.c, oc);
    const Shape out_shape = conv_output_shape(in_shape, params);
    const auto residual = random_vector(size_t(out_shape.elements()), 7);
    auto expected = reference::conv2d(input, in_shape, weight, bias, oc, 3, params.stride, 1,
                                      Activation::kMish);
    for (size_t i = 0; i < expected.size(); ++i) expected[i] += residual[i];
    for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar}) {
      if (!isa_supported(isa)) continue;
      Device device(2, isa);
      Conv2dConfig config;
      config.activation = Activation::kMish;
      config.dtype = DataType::BFLOAT16;
      config.winograd = tile;
      const Conv2d conv(params, weight, bias, config, isa);
      Tensor in = from_nhwc(input.data(), in_shape, Layout::TILE, DataType::BFLOAT16);
      Tensor res = from_nhwc(residual.data(), out_shape, Layout::TILE, DataType::BFLOAT16);
      Tensor wide = make_host_tensor(
          {{1, out_shape.h, out_shape.w, 100}, DataType::BFLOAT16, Layout::TILE, {}});
      conv.run(device, in, wide.channel_slice(30, oc), &res);
      // bf16 input, residual and output: a few roundings of 2^-8 relative each.
      EXPECT_TRUE(all_close(to_nhwc(wide.channel_slice(30, oc)), expected, 3e-2f, 2e-2f))
          << to_string(isa) << " " << to_string(tile);
      const auto all = to_nhwc(wide);
      for (int64_t p = 0; p < out_shape.pixels(); ++p)
        for (int ch = 0; ch < 100; ++ch)
          if (ch < 30 || ch >= 30 + oc) {
            ASSERT_EQ(all[p * 100 + ch], 0.0f) << "outside the slice";
          }
    }
  }
}

// math_approx_mode reaches Winograd's epilogue: the fast mish, within its documented error.
TEST(WinogradFusion, ApproxModeFusesTheFastMish) {
  const Shape in_shape{1, 6, 7, 32};
  const int oc = 32;
  const auto input = random_vector(size_t(in_shape.elements()), 8);
  const auto weight = random_vector(size_t(oc) * in_shape.c * 9, 9, -0.2f, 0.2f);
  const auto bias = random_vector(oc, 10);
  const auto expected =
      reference::conv2d(input, in_shape, weight, bias, oc, 3, 1, 1, Activation::kMish);
  Device device(2);
  for (WinogradTile tile : kTiles) {
    std::vector<float> outputs[2];
    for (bool approx : {false, true}) {
      Conv2dConfig config;
      config.activation = Activation::kMish;
      config.math_approx_mode = approx;
      config.winograd = tile;
      const Conv2d conv({in_shape.c, oc, 3, 1, 1}, weight, bias, config);
      Tensor in = from_nhwc(input.data(), in_shape);
      outputs[approx] = to_nhwc(conv(device, in));
      EXPECT_TRUE(all_close(outputs[approx], expected, 1e-4f + kMishApproxMaxAbsError, 1e-4f))
          << to_string(tile) << " approx=" << approx;
    }
    EXPECT_NE(outputs[0], outputs[1]) << to_string(tile) << ": approx mode ran the exact mish";
  }
}

// bfloat16 and bfloat8_b weights are widened or decoded once per core for every position when
// they fit in cache: with many blocks of tiles and several panels per core (WIDTH and BLOCK
// sharding over 3 cores, 1 MR row per block) each block must still meet its own panel's and
// position's weights, so the outputs equal one core's bit for bit (the sums run in the same
// order), and stay near the fp32 reference (a wrong panel or position would be off by the
// output's scale; the weights' rounding costs up to 0.22 of it with F(4x4) and bfloat8_b, and
// up to 0.97 with F(6x6) and bfloat8_b, whose bound here is the scale itself: WinogradError).
TEST(WinogradWeights, DecodedOnceForEveryBlockAndPanel) {
  const Shape in_shape{1, 23, 19, 64};
  const int oc = 96;
  const auto input = random_vector(size_t(in_shape.elements()), 11);
  const float scale = 1.0f / std::sqrt(9.0f * in_shape.c);
  const auto weight = random_vector(size_t(oc) * in_shape.c * 9, 12, -scale, scale);
  const auto bias = random_vector(oc, 13);
  for (WinogradTile tile : kAllTiles) {
    const Conv2dParams params = params_for(tile, in_shape.c, oc);
    const auto expected = reference::conv2d(input, in_shape, weight, bias, oc, 3, params.stride, 1,
                                            Activation::kNone);
    for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar}) {
      if (!isa_supported(isa)) continue;
      for (const auto& [weights_dtype, compact] :
           {std::pair{DataType::BFLOAT16, false}, std::pair{DataType::BFLOAT8_B, false},
            std::pair{DataType::BFLOAT8_B, true}}) {
        Conv2dConfig config;
        config.weights_dtype = weights_dtype;
        config.compact_weights = compact;
        config.winograd = tile;
        const Tensor in = from_nhwc(input.data(), in_shape);
        Device one_core(1, isa);
        const auto baseline = to_nhwc(Conv2d(params, weight, bias, config, isa)(one_core, in));
        const float bound =
            tile == WinogradTile::kF6x6 && weights_dtype == DataType::BFLOAT8_B ? 1.0f : 0.5f;
        EXPECT_TRUE(all_close(baseline, expected, bound * float(rms(expected)), 0.0f))
            << to_string(isa) << " " << to_string(tile) << " " << to_string(weights_dtype)
            << (compact ? " compact" : "");
        for (auto shard : {TensorMemoryLayout::WIDTH_SHARDED, TensorMemoryLayout::BLOCK_SHARDED}) {
          config.shard_layout = shard;
          config.act_block_h_override = 1;
          const Conv2d conv(params, weight, bias, config, isa);
          Device device(3, isa);
          EXPECT_EQ(to_nhwc(conv(device, in)), baseline)
              << conv.kernel_name() << " " << to_string(tile) << " " << to_string(weights_dtype)
              << (compact ? " compact " : " ") << to_string(shard);
        }
      }
    }
  }
}

TEST(WinogradConfig, RejectsConvsItCannotRun) {
  const auto w1 = random_vector(32 * 32, 1);
  const auto w3 = random_vector(32 * 32 * 9, 1);
  const auto narrow = random_vector(32 * 3 * 9, 1);
  for (WinogradTile tile : kAllTiles) {
    Conv2dConfig config;
    config.winograd = tile;
    const int stride = kernels::winograd_stride(tile), other_stride = 3 - stride;
    EXPECT_THROW(Conv2d({32, 32, 1, stride, 0}, w1, {}, config), Error);        // 1x1
    EXPECT_THROW(Conv2d({32, 32, 3, other_stride, 1}, w3, {}, config), Error);  // the other stride
    EXPECT_THROW(Conv2d({3, 32, 3, stride, 1}, narrow, {}, config), Error);     // RGB input
    EXPECT_NO_THROW(Conv2d({32, 32, 3, stride, 1}, w3, {}, config));
  }
}

// Error against the fp64 reference, relative to the output's scale (its RMS).
double relative_max_error(const std::vector<float>& actual, const std::vector<float>& expected) {
  double max_err = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    max_err = std::max(max_err, std::fabs(double(actual[i]) - expected[i]));
  }
  return max_err / rms(expected);
}

struct Mode {
  const char* name;
  DataType dtype, weights_dtype;
  MathFidelity fidelity;
  double max_ratio[kernels::kWinogradTiles];  // Winograd's error over the direct conv's, at most
};

// YOLOv4's stride-1 3x3 convs (C -> K), on a small spatial crop: the error depends on the
// reduction length, not on the image size. F(2x2): in fp32 and with bfloat16 weights Winograd
// stays within 2x the direct conv's error (measured 0.3-2.0x in fp32, where both are ~1e-6 of
// the output's scale, and 1.1-1.3x in bf16). bfloat8_b quantises the transformed weights
// G g G^T, whose blocks of 16 spread wider than g's, so its error is larger: measured 1.5-2.2x,
// bounded here by 2.5x; the model tests check what that does to PCC (>= 0.99 on every module and
// head). F(4x4)'s transforms have coefficients up to 25 (input) and 8 (output): in fp32 its
// error is 4-20x the direct conv's, still below 5e-5 of the output's scale (bounded by 25x);
// with bf16 operands (LoFi) the rounded transformed inputs make it 11-18x (~0.2 of the output's
// scale, bounded by 20x) and 20-23x with bfloat8_b (bounded by 25x), which is why the layer
// table gives F(4x4) to HiFi4 convs and, where VDPBF16PS makes it pay, to bf16 (its model PCC
// against fp32 stays >= 0.9997). F(6x6)'s points include +-1/2, which keeps its
// coefficients small (at most 21/4 in B, 32 in A): in fp32 its error is 7-40x the direct conv's
// (below 9e-5 of the output's scale, bounded by 50x), 17-26x with bf16 operands (bounded by
// 30x) and 32-41x with bfloat8_b (bounded by 50x).
//
// Stride 2 (polyphase, on YOLOv4's stride-2 3x3 convs): F(2x2)'s transforms are additions only,
// its error 0.3-1.4x the direct conv's in fp32, 0.9-1.5x with bf16 operands and 1.6-1.8x with
// bfloat8_b (bounded by F(2x2)'s stride-1 bounds); F(4x4)'s coefficients reach 3 (input) and 8
// (output), only on the even half of each axis: 1.0-5.2x in fp32 (bounded by 8x), 3.7-6.8x with
// bf16 operands (9x) and 6.5-10x with bfloat8_b (13x), a third of stride 1's F(4x4).
TEST(WinogradError, BoundedByTheDirectConvsOnYolov4Channels) {
  // Bounds on the ratio per tile: F(2x2), F(4x4), F(6x6), then stride 2's F(2x2), F(4x4).
  const Mode modes[] = {
      {"fp32/hifi4",
       DataType::FLOAT32,
       DataType::FLOAT32,
       MathFidelity::HiFi4,
       {2.0, 25, 50, 2.0, 8.0}},
      {"bf16/bf16/lofi",
       DataType::BFLOAT16,
       DataType::BFLOAT16,
       MathFidelity::LoFi,
       {2.0, 20, 30, 2.0, 9.0}},
      {"report: bf16/bfloat8_b/lofi",
       DataType::BFLOAT16,
       DataType::BFLOAT8_B,
       MathFidelity::LoFi,
       {2.5, 25, 50, 2.5, 13.0}},
  };
  struct Layers {
    int stride;
    std::vector<std::pair<int, int>> channels;
    std::vector<WinogradTile> tiles;
  };
  const Layers strides[] = {
      {1,
       {{32, 64},
        {64, 64},
        {128, 128},
        {256, 256},
        {512, 512},
        {128, 256},
        {256, 512},
        {512, 1024}},
       {std::begin(kTiles), std::end(kTiles)}},
      {2,
       {{32, 64}, {64, 128}, {128, 256}, {256, 512}, {512, 1024}},
       {std::begin(kTilesS2), std::end(kTilesS2)}},
  };
  const Shape crop{1, 10, 10, 0};
  Device device(2);
  for (const Layers& layers : strides) {
    for (const auto& [c, k] : layers.channels) {
      const Shape in_shape{crop.n, crop.h, crop.w, c};
      // Activations like the model's (mostly positive after mish), weights scaled to the fan-in.
      const auto input = random_vector(size_t(in_shape.elements()), 31, -0.3f, 1.0f);
      const auto weight = random_vector(size_t(k) * c * 9, 32, -1.0f / std::sqrt(9.0f * c),
                                        1.0f / std::sqrt(9.0f * c));
      const auto bias = random_vector(size_t(k), 33, -0.1f, 0.1f);
      const Conv2dParams params{c, k, 3, layers.stride, 1};
      const auto expected = reference::conv2d(input, in_shape, weight, bias, k, 3, layers.stride, 1,
                                              Activation::kNone);
      for (const Mode& m : modes) {
        const auto error_of = [&](WinogradTile tile) {
          Conv2dConfig config;
          config.dtype = m.dtype;
          config.weights_dtype = m.weights_dtype;
          config.math_fidelity = m.fidelity;
          config.winograd = tile;
          const Conv2d conv(params, weight, bias, config);
          Tensor in = from_nhwc(input.data(), in_shape, Layout::TILE, m.dtype);
          return relative_max_error(to_nhwc(conv(device, in)), expected);
        };
        const double direct = error_of(WinogradTile::kNone);
        std::printf("  s%d %4d -> %4d  %-28s direct %.2e", layers.stride, c, k, m.name, direct);
        for (WinogradTile tile : layers.tiles) {
          const double error = error_of(tile);
          std::printf("  %s %.2e (%.2fx)", to_string(tile), error, error / direct);
          EXPECT_LE(error, m.max_ratio[kernels::winograd_index(tile)] * direct + 1e-6)
              << c << "->" << k << " " << m.name << " " << to_string(tile);
        }
        std::printf("\n");
      }
    }
  }
}

}  // namespace
}  // namespace yolo4
