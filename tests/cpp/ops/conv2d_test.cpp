// conv2d: every ISA path this CPU has, against the naive reference, on awkward shapes.
#include "yolo4/ops/conv2d.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

#include "op_test_util.h"
#include "test_util.h"
#include "yolo4/core/error.h"
#include "yolo4/ops/conv2d_operands.h"
#include "yolo4/ops/grouped_conv2d.h"
#include "yolo4/ops/layout.h"
#include "yolo4/ops/reference.h"

namespace yolo4 {
namespace {

using testing::all_close;
using testing::expect_error;
using testing::kAllWinogradTiles;
using testing::random_vector;

struct ConvCase {
  Shape in;
  int out_channels, kernel, stride;
};

std::string case_name(const ConvCase& c) {
  return detail::concat(c.in.n, "x", c.in.h, "x", c.in.w, "x", c.in.c, "_o", c.out_channels, "_k",
                        c.kernel, "s", c.stride);
}

const ConvCase kCases[] = {
    {{1, 7, 5, 3}, 32, 3, 1},      // RGB-like input, odd sizes
    {{1, 6, 7, 6}, 24, 3, 1},      // narrow input copied 8 values per tap
    {{1, 7, 6, 12}, 16, 3, 2},     // narrow input copied 16 values per tap
    {{1, 9, 7, 17}, 20, 3, 2},     // C and OC not multiples of 16, stride 2 on odd sizes
    {{2, 6, 6, 32}, 64, 1, 1},     // batch 2, 1x1
    {{1, 1, 1, 40}, 255, 1, 1},    // 1x1 spatial, the head's 255 outputs
    {{1, 3, 3, 16}, 48, 3, 1},     // spatial smaller than a tile
    {{1, 5, 4, 600}, 33, 3, 1},    // reduction longer than one K chunk
    {{1, 13, 11, 64}, 128, 3, 2},  // stride 2 downsample
    {{1, 2, 3, 1}, 1, 3, 1},       // single channels
    {{2, 9, 30, 3}, 40, 3, 2},     // RGB read in place, stride 2: batch 2, two panels
    {{1, 4, 29, 3}, 16, 3, 1},     // RGB read in place: rows of several tiles, the last partial
};

class Conv2dTest : public ::testing::TestWithParam<std::tuple<Isa, ConvCase, Activation>> {};

TEST_P(Conv2dTest, MatchesReference) {
  const auto [isa, c, activation] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const Conv2dParams params{c.in.c, c.out_channels, c.kernel, c.stride, c.kernel / 2};
  const auto input = random_vector(size_t(c.in.elements()), 1);
  const auto weight = random_vector(size_t(c.out_channels) * c.in.c * c.kernel * c.kernel, 2);
  const auto bias = random_vector(size_t(c.out_channels), 3);
  const auto expected = reference::conv2d(input, c.in, weight, bias, c.out_channels, c.kernel,
                                          c.stride, c.kernel / 2, activation);
  for (int threads : {1, 2, 3}) {
    for (auto shard : {TensorMemoryLayout::HEIGHT_SHARDED, TensorMemoryLayout::WIDTH_SHARDED,
                       TensorMemoryLayout::BLOCK_SHARDED}) {
      for (Layout layout : {Layout::TILE, Layout::ROW_MAJOR}) {
        Device device(threads, isa);
        Conv2dConfig config;
        config.activation = activation;
        config.shard_layout = shard;
        const Conv2d conv(params, weight, bias, config, isa);
        Tensor in = from_nhwc(input.data(), c.in, layout);
        Tensor out = conv(device, in);
        EXPECT_TRUE(all_close(to_nhwc(out), expected, 1e-4f, 1e-4f))
            << conv.kernel_name() << " threads=" << threads << " " << to_string(shard) << " "
            << to_string(layout);
        EXPECT_TRUE(testing::tile_output_ok(out));  // padding channels written as zeros
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, Conv2dTest,
                         ::testing::Combine(::testing::Values(Isa::kAvx512, Isa::kAvx2,
                                                              Isa::kScalar),
                                            ::testing::ValuesIn(kCases),
                                            ::testing::ValuesIn(testing::kFusedActivations)),
                         [](const auto& info) { return testing::isa_case_activation_name(info); });

// A narrow input's taps are packed back to back, each copying 4, 8 or 16 values of its pixel's
// TILE block: whatever its padding channels hold (here NaN) must not reach the output, for each
// copy width and in any precision.
TEST(Conv2dNarrowInput, IgnoresWhatTilePaddingHolds) {
  for (int c : {3, 5, 8, 12}) {
    const Shape in_shape{1, 6, 7, c};
    const auto input = random_vector(size_t(in_shape.elements()), 8);
    const auto weight = random_vector(size_t(16) * c * 9, 9, -0.2f, 0.2f);
    const auto bias = random_vector(16, 10);
    for (Isa isa : supported_isas()) {
      for (int stride : {1, 2}) {
        for (MathFidelity fidelity : {MathFidelity::HiFi4, MathFidelity::LoFi}) {
          Conv2dConfig config;
          config.math_fidelity = fidelity;
          const Conv2d conv({c, 16, 3, stride, 1}, weight, bias, config, isa);
          Tensor clean = from_nhwc(input.data(), in_shape);
          Tensor padded = from_nhwc(input.data(), in_shape);
          ASSERT_EQ(padded.pixel_stride(), 16);
          for (int64_t p = 0; p < in_shape.pixels(); ++p) {
            std::fill_n(padded.data<float>() + p * 16 + c, 16 - c, std::nanf(""));
          }
          Device device(2, isa);
          EXPECT_EQ(to_nhwc(conv(device, padded)), to_nhwc(conv(device, clean)))
              << c << " channels, " << to_string(isa) << " stride " << stride << " "
              << to_string(fidelity);
        }
      }
    }
  }
}

// A narrow conv whose kernel reads the input in place (the RGB stem: ConvKernel::window) copies the
// rows it reads with their padding: every padding, stride, input layout and dtype, HiFi4 and
// LoFi (whose bf16 operands, input and weights, are rounded: its kernel on widened operands on
// every CPU), bfloat16 weights, and the epilogue's residual and bfloat16 output, against the
// reference; every ISA, 1-3 cores.
TEST(Conv2dWindow, ReadsTheInputInPlaceWithAnyPadding) {
  const Shape in_shape{2, 8, 27, 3};
  const int oc = 24;
  const auto input = random_vector(size_t(in_shape.elements()), 81);
  const auto weight = random_vector(size_t(oc) * 3 * 9, 82, -0.3f, 0.3f);
  const auto bias = random_vector(oc, 83);
  const auto bf16 = [](const std::vector<float>& v) {
    return testing::rounded(v, DataType::BFLOAT16);
  };
  for (Isa isa : supported_isas()) {
    for (int stride : {1, 2}) {
      for (int padding : {0, 1, 2}) {
        const Conv2dParams params{3, oc, 3, stride, padding};
        const Shape out_shape = Conv2d(params, weight, bias, {}, isa).output_shape(in_shape);
        const auto residual = bf16(random_vector(size_t(out_shape.elements()), 84));
        for (MathFidelity fidelity : {MathFidelity::HiFi4, MathFidelity::LoFi}) {
          for (DataType dtype : {DataType::FLOAT32, DataType::BFLOAT16}) {
            const bool lofi = fidelity == MathFidelity::LoFi;
            const bool bf16_in = lofi || dtype == DataType::BFLOAT16;
            auto expected = reference::conv2d(bf16_in ? bf16(input) : input, in_shape,
                                              bf16_in ? bf16(weight) : weight, bias, oc, 3, stride,
                                              padding, Activation::kMish);
            for (size_t i = 0; i < expected.size(); ++i) expected[i] += residual[i];
            Conv2dConfig config;
            config.activation = Activation::kMish;
            config.dtype = dtype;
            config.weights_dtype = bf16_in ? DataType::BFLOAT16 : DataType::FLOAT32;
            config.math_fidelity = fidelity;
            const Conv2d conv(params, weight, bias, config, isa);
            EXPECT_GT(conv.window_tiles_per_row(out_shape), 0);
            // LoFi reads the input in place on VDPBF16PS where the CPU has it.
            const kernels::KernelTable& table = kernels::kernel_table(isa);
            const bool pairs = lofi && table.conv_lofi.window[stride - 1][0];
            EXPECT_EQ(pairs, lofi && kernels::native_bf16_products(isa) &&
                                 !kernels::amx_bf16_products(isa));
            EXPECT_STREQ(conv.kernel_name(), !lofi   ? table.conv_hifi4.name
                                             : pairs ? table.conv_lofi.name
                                                     : table.conv_lofi_window.name);
            const float rtol = dtype == DataType::BFLOAT16 ? 1.0f / 128 : 1e-4f;
            for (Layout layout : {Layout::TILE, Layout::ROW_MAJOR}) {
              for (int threads : {1, 2, 3}) {
                Device device(threads, isa);
                const Tensor in = from_nhwc(input.data(), in_shape, layout, dtype);
                const Tensor res = from_nhwc(residual.data(), out_shape, Layout::TILE, dtype);
                const Tensor out = conv(device, in, &res);
                EXPECT_TRUE(all_close(to_nhwc(out), expected, 1e-4f, rtol))
                    << to_string(isa) << " stride " << stride << " padding " << padding << " "
                    << to_string(fidelity) << " " << testing::dtype_name(dtype) << " "
                    << to_string(layout) << " threads " << threads;
                EXPECT_TRUE(testing::tile_output_ok(out));
              }
            }
          }
        }
      }
    }
  }
}

class Conv2dFusionTest : public ::testing::TestWithParam<std::tuple<Isa, Activation, DataType>> {};

// Every activation with the residual add fused after it, in float32 and bfloat16: written into
// a channel slice of a wider tensor (how producers fill a concat output without a copy), and
// into a TILE output, whose padding channels stay zero even for logistic (f(0) = 0.5) and
// with a ROW_MAJOR residual (no padding to read).
TEST_P(Conv2dFusionTest, ActivationAndResidualIntoSliceAndTile) {
  const auto [isa, activation, dtype] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const Shape in_shape{1, 5, 7, 24};
  const int oc = 40;
  const auto input = testing::rounded(random_vector(size_t(in_shape.elements()), 4), dtype);
  const auto weight = random_vector(size_t(oc) * 24 * 9, 5);
  const auto bias = random_vector(oc, 6);
  const Shape out_shape{1, 5, 7, oc};
  const auto residual = testing::rounded(random_vector(size_t(out_shape.elements()), 7), dtype);
  auto expected = reference::conv2d(input, in_shape, weight, bias, oc, 3, 1, 1, activation);
  for (size_t i = 0; i < expected.size(); ++i) expected[i] += residual[i];
  // A bfloat16 output is the fp32 result rounded once (2^-9 relative).
  const float rtol = 1e-4f + (dtype == DataType::BFLOAT16 ? 1.0f / 256 : 0.0f);

  Device device(2, isa);
  Conv2dConfig config;
  config.activation = activation;
  config.dtype = dtype;
  const Conv2d conv({24, oc, 3, 1, 1}, weight, bias, config, isa);
  Tensor in = from_nhwc(input.data(), in_shape, Layout::TILE, dtype);
  const Tensor res = from_nhwc(residual.data(), out_shape, Layout::TILE, dtype);
  const Tensor wide = testing::sentinel_tensor({1, 5, 7, 100}, dtype);
  const Tensor slice = wide.channel_slice(30, oc);
  conv.run(device, in, slice, &res);
  EXPECT_TRUE(all_close(to_nhwc(slice), expected, 1e-4f, rtol));
  EXPECT_TRUE(testing::only_slice_written(wide, 30, oc));

  const Tensor res_row_major = from_nhwc(residual.data(), out_shape, Layout::ROW_MAJOR, dtype);
  const Tensor out =
      testing::run_in_poisoned_arena(device, [&] { return conv(device, in, &res_row_major); });
  EXPECT_TRUE(all_close(to_nhwc(out), expected, 1e-4f, rtol));
  EXPECT_TRUE(testing::tile_output_ok(out));
}

INSTANTIATE_TEST_SUITE_P(
    AllIsas, Conv2dFusionTest,
    ::testing::Combine(::testing::Values(Isa::kAvx512, Isa::kAvx2, Isa::kScalar),
                       ::testing::ValuesIn(testing::kFusedActivations),
                       ::testing::Values(DataType::FLOAT32, DataType::BFLOAT16)),
    [](const auto& info) {
      return std::string(to_string(std::get<0>(info.param))) + "_" +
             std::string(to_string(std::get<1>(info.param))) + "_" +
             testing::dtype_name(std::get<2>(info.param));
    });

// The last tile of a conv's rows runs the shortest kernel that covers its valid rows: every
// count of valid rows, 1 to 2 MR, on every ISA, in fp32 and bfloat16 output, HiFi4 and LoFi
// (native VDPBF16PS or AMX where the CPU has it), direct (1x1 and 3x3) and Winograd (whose tiles
// are the rows: 1 x 2n maps give n tiles of F(2x2)).
TEST(Conv2dRows, EveryCountOfValidRowsInTheLastTile) {
  const auto to_bf16 = [](std::vector<float> v) {
    for (float& x : v) x = to_float(to_bfloat16(x));
    return v;
  };
  for (Isa isa : supported_isas()) {
    const kernels::KernelTable& table = kernels::kernel_table(isa);
    const int mr = std::max(table.conv_hifi4.mr, table.conv_lofi.mr);  // AMX's LoFi: 32
    for (int rows = 1; rows <= 2 * mr; ++rows) {
      for (int kernel : {1, 3}) {
        for (bool winograd : {false, true}) {
          if (winograd && kernel != 3) continue;
          const Shape in{1, 1, winograd ? 2 * rows : rows, 16};
          const int oc = 20;
          const auto input = random_vector(size_t(in.elements()), 71);
          const float scale = 1.0f / std::sqrt(16.0f * kernel * kernel);
          const auto weight = random_vector(size_t(oc) * 16 * kernel * kernel, 72, -scale, scale);
          const auto bias = random_vector(oc, 73);
          for (MathFidelity fidelity : {MathFidelity::HiFi4, MathFidelity::LoFi}) {
            // LoFi multiplies bf16 operands (Winograd's transformed ones: checked elsewhere).
            const bool lofi = fidelity == MathFidelity::LoFi;
            if (lofi && winograd) continue;
            const auto expected = reference::conv2d(lofi ? to_bf16(input) : input, in,
                                                    lofi ? to_bf16(weight) : weight, bias, oc,
                                                    kernel, 1, kernel / 2, Activation::kLeaky);
            for (DataType dtype : {DataType::FLOAT32, DataType::BFLOAT16}) {
              Conv2dConfig config;
              config.activation = Activation::kLeaky;
              config.dtype = dtype;
              config.math_fidelity = fidelity;
              config.winograd = winograd ? WinogradTile::kF2x2 : WinogradTile::kNone;
              const Conv2d conv({16, oc, kernel, 1, kernel / 2}, weight, bias, config, isa);
              Device device(1, isa);
              const float rtol = dtype == DataType::BFLOAT16 ? 1.0f / 128 : 1e-4f;
              EXPECT_TRUE(all_close(to_nhwc(conv(device, from_nhwc(input.data(), in))), expected,
                                    1e-4f, rtol))
                  << conv.kernel_name() << " rows " << rows << " kernel " << kernel
                  << (winograd ? " winograd " : " ") << to_string(dtype);
            }
          }
        }
      }
    }
  }
}

// Every kernel but the exact-order emulation (tests only) has its shorter variants, which a
// conv's last tile would otherwise miss without any result changing: each row count that a
// shorter kernel can cover gets one, and a single row its own. AVX-512's also have their tall one
// (MR + 1 rows), whose results the test above checks at 13 rows.
TEST(Conv2dRows, EveryFastKernelHasItsShorterVariants) {
  for (Isa isa : supported_isas()) {
    const kernels::KernelTable& table = kernels::kernel_table(isa);
    for (const kernels::ConvKernel* k :
         {&table.conv_hifi4, &table.conv_lofi, &table.conv_lofi_decoded}) {
      for (int rows = 1; (rows - 1) / k->row_step < (k->mr - 1) / k->row_step; ++rows) {
        for (int bf16_out : {0, 1}) {
          EXPECT_NE(k->for_rows(rows, bf16_out), k->run[bf16_out])
              << k->name << " rows " << rows << " bf16 output " << bf16_out;
        }
      }
      // The register kernels' one-row variant, with four accumulator sets (AMX's tiles cost the
      // same whatever rows are valid).
      const bool register_rows = k->row_step <= kernels::kRowStep;
      if (register_rows) {
        for (int bf16_out : {0, 1}) {
          EXPECT_NE(k->for_rows(1, bf16_out), k->for_rows(2, bf16_out))
              << k->name << " one row, bf16 output " << bf16_out;
        }
      }
      // AVX-512's register kernels take a last row with the tile before; 25 Winograd tiles
      // are 12 + 13 rows.
      if (isa == Isa::kAvx512 && register_rows) {
        EXPECT_EQ(k->tile_rows(k->mr + 1, true, k->mr), k->mr + 1) << k->name;
        EXPECT_EQ(k->tile_rows(k->mr + 1, false, k->mr), k->mr) << k->name;  // not packed next
        EXPECT_NE(k->run_tall[0], nullptr) << k->name;
        EXPECT_NE(k->run_tall[1], nullptr) << k->name;
        EXPECT_EQ(k->tile_fill(25), k->mr) << k->name;
      }
      // AVX2's, which have no tall kernel, split 25 rows evenly: 5 x 5, not 4 x 6 + 1; 100
      // rows stay 16 x 6 + 4, 49 8 x 6 + 1 (an even split would need 5 and 6 rows).
      if (isa == Isa::kAvx2) {
        EXPECT_EQ(k->tile_fill(25), 5) << k->name;
        EXPECT_EQ(k->tile_rows(5, true, 5), 5) << k->name;
        EXPECT_EQ(k->tile_fill(100), 6) << k->name;
        EXPECT_EQ(k->tile_fill(49), 6) << k->name;
      }
    }
  }
}

// A pointwise conv reads its input in place (ConvKernel::in_place) where it holds whole blocks of
// channels in the format the kernel's in-place variant reads: fp32 with HiFi4 on every ISA, bf16
// with LoFi where its products are VDPBF16PS's or fp32 FMAs of widened bf16 values (not AMX's).
// From a channel slice whose neighbours hold NaN (never read, or the output would be NaN), every
// row count up to 2 MR + 1 and maps of several blocks, reductions in one and two chunks, cores
// splitting pixels or channels, with a residual, into fp32 and bf16 outputs.
TEST(Conv2dPointwise, ReadsTheInputInPlaceFromASlice) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (Isa isa : supported_isas()) {
    for (DataType dtype : {DataType::FLOAT32, DataType::BFLOAT16}) {
      const bool lofi = dtype == DataType::BFLOAT16;
      const bool in_place_expected = !lofi || !kernels::amx_bf16_products(isa);
      for (int channels : {16, 48, 16 * 33}) {
        const int oc = 40, first = 8, wide_channels = channels + 24;
        const auto weight = testing::rounded(random_vector(size_t(oc) * channels, 81, -0.2f, 0.2f),
                                             lofi ? DataType::BFLOAT16 : DataType::FLOAT32);
        const auto bias = random_vector(oc, 82);
        Conv2dConfig config;
        config.activation = Activation::kMish;
        config.dtype = dtype;
        config.math_fidelity = lofi ? MathFidelity::LoFi : MathFidelity::HiFi4;
        const Conv2d conv({channels, oc, 1, 1, 0}, weight, bias, config, isa);
        EXPECT_EQ(conv.reads_pointwise_in_place(dtype, wide_channels), in_place_expected)
            << conv.kernel_name();
        // Pixels 4 KB apart would put a tile's rows in one L1 set: packed.
        EXPECT_FALSE(conv.reads_pointwise_in_place(dtype, 4096 / traits(dtype).block_bytes));
        for (int width : {1, 5, 12, 13, 25, 97}) {
          const Shape in{1, 2, width, channels}, out{1, 2, width, oc};
          const auto input = testing::rounded(random_vector(size_t(in.elements()), 83), dtype);
          const auto residual = testing::rounded(random_vector(size_t(out.elements()), 84), dtype);
          auto expected =
              reference::conv2d(input, in, weight, bias, oc, 1, 1, 0, Activation::kMish);
          for (size_t i = 0; i < expected.size(); ++i) expected[i] += residual[i];
          Tensor wide =
              make_host_tensor({{1, 2, width, wide_channels}, dtype, Layout::ROW_MAJOR, {}});
          for (int64_t p = 0; p < in.pixels(); ++p) {
            for (int ch = 0; ch < wide_channels; ++ch) {
              const bool inside = ch >= first && ch < first + channels;
              testing::set_element(wide, p * wide_channels + ch,
                                   inside ? input[size_t(p * channels + ch - first)] : nan);
            }
          }
          const Tensor res = from_nhwc(residual.data(), out, Layout::ROW_MAJOR, dtype);
          for (auto shard :
               {TensorMemoryLayout::HEIGHT_SHARDED, TensorMemoryLayout::WIDTH_SHARDED}) {
            Conv2dConfig sharded = config;
            sharded.shard_layout = shard;
            const Conv2d run_conv({channels, oc, 1, 1, 0}, weight, bias, sharded, isa);
            Device device(2, isa);
            const Tensor result = run_conv(device, wide.channel_slice(first, channels), &res);
            const float rtol = lofi ? 1.0f / 128 : 1e-4f;
            EXPECT_TRUE(all_close(to_nhwc(result), expected, 1e-4f, rtol))
                << run_conv.kernel_name() << " C=" << channels << " width " << width << " "
                << to_string(shard);
          }
        }
      }
    }
  }
}

// Read in place or packed, a pointwise conv's LoFi on a bf16 input (VDPBF16PS, or fp32 FMAs of
// the values widened) sums the same products in the same order: bit-identical outputs. Pixels
// 4 KB apart (2048 bf16 channels) are packed.
TEST(Conv2dPointwise, Bf16InPlaceMatchesPackedExactly) {
  constexpr int kPackedStride = 2048;
  for (Isa isa : supported_isas()) {
    const int channels = 48, oc = 40;
    const auto weight =
        testing::rounded(random_vector(size_t(oc) * channels, 91, -0.2f, 0.2f), DataType::BFLOAT16);
    const auto bias = random_vector(oc, 92);
    Conv2dConfig config;
    config.activation = Activation::kMish;
    config.dtype = DataType::BFLOAT16;
    config.math_fidelity = MathFidelity::LoFi;
    const Conv2d conv({channels, oc, 1, 1, 0}, weight, bias, config, isa);
    if (!conv.reads_pointwise_in_place(DataType::BFLOAT16, channels)) continue;
    ASSERT_FALSE(conv.reads_pointwise_in_place(DataType::BFLOAT16, kPackedStride));
    const Shape in{1, 3, 13, channels};
    const auto input = random_vector(size_t(in.elements()), 93);
    Tensor wide =
        make_host_tensor({{1, 3, 13, kPackedStride}, DataType::BFLOAT16, Layout::ROW_MAJOR, {}});
    for (int64_t p = 0; p < in.pixels(); ++p) {
      for (int ch = 0; ch < channels; ++ch) {
        testing::set_element(wide, p * kPackedStride + ch, input[size_t(p * channels + ch)]);
      }
    }
    Device device(2, isa);
    const Tensor in_place =
        conv(device, from_nhwc(input.data(), in, Layout::ROW_MAJOR, DataType::BFLOAT16));
    const Tensor packed = conv(device, wide.channel_slice(0, channels));
    EXPECT_EQ(to_nhwc(in_place), to_nhwc(packed)) << conv.kernel_name();
  }
}

// The micro-kernels' edges: pixel counts that leave 1..5 rows of a 6-row (AVX2) or 1..11 of a
// 12-row (AVX-512) tile, and output channels that leave 1..15 columns of a 16-wide panel (half
// of a 32-wide one), written into a channel slice so the partial columns are stored as such; in
// fp32 and bf16 output, HiFi4 and LoFi, direct and Winograd.
class Conv2dEdgeTest : public ::testing::TestWithParam<Isa> {};

TEST_P(Conv2dEdgeTest, PartialTilesAndPanels) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  struct Case {
    Shape in;
    int oc, kernel;
  };
  for (const Case& c :
       {Case{{1, 1, 7, 16}, 1, 1}, Case{{1, 5, 7, 24}, 23, 3}, Case{{2, 2, 11, 40}, 47, 3},
        Case{{1, 3, 1, 32}, 17, 1}, Case{{1, 4, 5, 19}, 15, 3}, Case{{1, 2, 19, 16}, 33, 3}}) {
    const Shape out_shape{c.in.n, c.in.h, c.in.w, c.oc};
    const auto input = random_vector(size_t(c.in.elements()), 61);
    // Scaled to the fan-in: outputs of order 1, so a wrong or missing edge value stands out.
    const float scale = 1.0f / std::sqrt(float(c.in.c * c.kernel * c.kernel));
    const auto weight =
        random_vector(size_t(c.oc) * c.in.c * c.kernel * c.kernel, 62, -scale, scale);
    const auto bias = random_vector(size_t(c.oc), 63);
    for (DataType dtype : {DataType::FLOAT32, DataType::BFLOAT16}) {
      for (MathFidelity fidelity : {MathFidelity::HiFi4, MathFidelity::LoFi}) {
        for (WinogradTile winograd : kAllWinogradTiles) {
          if (winograd != WinogradTile::kNone && c.kernel != 3) continue;
          Conv2dConfig config;
          config.activation = Activation::kMish;
          config.dtype = dtype;
          config.math_fidelity = fidelity;
          config.winograd = winograd;
          // The operands as the conv multiplies them.
          const bool bf16_in = dtype == DataType::BFLOAT16 || fidelity == MathFidelity::LoFi;
          std::vector<float> x = input, w = weight;
          if (bf16_in) {
            for (float& v : x) v = to_float(to_bfloat16(v));
          }
          if (fidelity == MathFidelity::LoFi && winograd == WinogradTile::kNone) {
            for (float& v : w) v = to_float(to_bfloat16(v));
          }
          const auto expected = reference::conv2d(x, c.in, w, bias, c.oc, c.kernel, 1, c.kernel / 2,
                                                  Activation::kMish);
          const Conv2d conv({c.in.c, c.oc, c.kernel, 1, c.kernel / 2}, weight, bias, config, isa);
          Device device(2, isa);
          Tensor in = from_nhwc(input.data(), c.in, Layout::TILE, dtype);
          Tensor wide =
              make_host_tensor({{c.in.n, c.in.h, c.in.w, c.oc + 21}, dtype, Layout::TILE, {}});
          Tensor slice = wide.channel_slice(7, c.oc);
          conv.run(device, in, slice);
          // LoFi Winograd rounds the transformed operands (sums of input values) to bf16 too;
          // F(6x6)'s larger coefficients make that up to 26x the direct conv's error
          // (WinogradError), which is why no preset pairs them.
          const bool lofi_winograd =
              winograd != WinogradTile::kNone && fidelity == MathFidelity::LoFi;
          const float tol = lofi_winograd && winograd == WinogradTile::kF6x6 ? 1.5e-1f
                            : lofi_winograd                                  ? 5e-2f
                            : dtype == DataType::BFLOAT16                    ? 1e-2f
                                                                             : 1e-4f;
          EXPECT_TRUE(all_close(to_nhwc(slice), expected, tol, tol))
              << conv.kernel_name() << " " << to_string(c.in) << " -> " << c.oc << " "
              << to_string(dtype) << " " << to_string(winograd);
          const auto all = to_nhwc(wide);
          for (int64_t p = 0; p < out_shape.pixels(); ++p) {
            for (int ch = 0; ch < c.oc + 21; ++ch) {
              if (ch < 7 || ch >= 7 + c.oc) {
                ASSERT_EQ(all[p * (c.oc + 21) + ch], 0.0f);
              }
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, Conv2dEdgeTest,
                         ::testing::Values(Isa::kAvx512, Isa::kAvx2, Isa::kScalar),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(Conv2dConfigTest, RejectsWhatIsNotSupported) {
  const std::vector<float> w(16 * 16), b(16);
  Conv2dConfig config;
  config.dtype = DataType::BFLOAT8_B;
  EXPECT_THROW(Conv2d({16, 16, 1, 1, 0}, w, b, config), Error);
  EXPECT_THROW(Conv2d({16, 16, 1, 1, 0}, std::vector<float>(10), b), Error);
  // Kernels past 9x9, padding of a whole kernel, and Winograd outside 3x3 stride 1 padding <= 1.
  expect_error(
      [&] {
        Conv2d({16, 16, 10, 1, 0}, std::vector<float>(16 * 16 * 100), b);
      },
      "conv2d: unsupported kernel=10");
  expect_error(
      [&] {
        Conv2d({16, 16, 3, 1, 3}, std::vector<float>(16 * 16 * 9), b);
      },
      "padding=3: expected kernel 1..9, stride >= 1, padding 0..kernel-1");
  Conv2dConfig winograd;
  winograd.winograd = WinogradTile::kF2x2;
  for (const Conv2dParams& p : {Conv2dParams{16, 16, 3, 2, 1}, Conv2dParams{16, 16, 3, 1, 2},
                                Conv2dParams{16, 16, 5, 1, 2}}) {
    expect_error([&] { Conv2d(p, std::vector<float>(16 * 16 * p.kernel * p.kernel), b, winograd); },
                 "conv2d: winograd F(2x2,3x3) needs a 3x3 stride-1 conv with padding 0 or 1");
  }
  const Conv2d conv({16, 16, 1, 1, 0}, w, b);
  Device device(1);
  Tensor wrong = make_host_tensor({{1, 2, 2, 8}, DataType::FLOAT32, Layout::TILE, {}});
  EXPECT_THROW(conv(device, wrong), Error);
}

// The device owns the ISA: a conv whose weights are packed for one ISA runs on a device of that
// ISA and refuses any other, naming both, so one run never mixes kernels.
TEST(Conv2dIsaTest, RunsOnlyOnADeviceWithTheIsaItWasPackedFor) {
  const std::vector<Isa> isas = supported_isas();
  if (isas.size() < 2) GTEST_SKIP() << "this CPU runs one ISA only";
  const Shape shape{1, 6, 5, 16};
  const std::vector<float> w = random_vector(16 * 16 * 9, 1), depthwise = random_vector(16 * 9, 2);
  const std::vector<float> b = random_vector(16, 3);
  const Tensor input = from_nhwc(random_vector(size_t(shape.elements()), 4).data(), shape);
  for (Isa packed : isas) {
    const Conv2d conv({16, 16, 3, 1, 1}, w, b, {}, packed);
    const GroupedConv2d grouped({16, 16, 3, 1, 1, 16}, depthwise, b, {}, packed);
    EXPECT_EQ(conv.isa(), packed);
    EXPECT_EQ(grouped.isa(), packed);
    for (Isa run_on : isas) {
      Device device(1, run_on);
      if (run_on == packed) {
        EXPECT_NO_THROW(conv(device, input));
        EXPECT_NO_THROW(grouped(device, input));
        continue;
      }
      const Tensor output = make_host_tensor({shape, DataType::FLOAT32, Layout::TILE, {}});
      const std::string mismatch = detail::concat(": weights packed for the ", to_string(packed),
                                                  " kernels cannot run on a device with the ",
                                                  to_string(run_on), " kernels");
      expect_error([&] { conv(device, input); }, "conv2d" + mismatch);
      expect_error([&] { conv.run(device, input, output); }, "conv2d" + mismatch);
      expect_error([&] { grouped(device, input); }, "grouped_conv2d" + mismatch);
      expect_error([&] { grouped.run(device, input, output); }, "grouped_conv2d" + mismatch);
    }
  }
}

TEST(Conv2dStrategyTest, FollowsTheReportRule) {
  const std::vector<float> w(64 * 64), b(64);
  const Conv2d conv({64, 64, 1, 1, 0}, w, b);
  EXPECT_EQ(conv.strategy({1, 40, 40, 64}, 2).shard_layout, TensorMemoryLayout::HEIGHT_SHARDED);
  EXPECT_EQ(conv.strategy({1, 4, 4, 64}, 2).shard_layout, TensorMemoryLayout::WIDTH_SHARDED);
  EXPECT_EQ(conv.strategy({1, 8, 8, 64}, 2).shard_layout, TensorMemoryLayout::BLOCK_SHARDED);
  EXPECT_DOUBLE_EQ(conv.flops({1, 10, 10, 64}), 2.0 * 100 * 64 * 64);
}

// Where the cores split only the pixels, each share is cut into 4 blocks or more, so that a core
// done with its own has blocks of the others' to take (ShareQueue); one core, or cores splitting
// the channels too, keep the cache-sized blocks.
TEST(Conv2dStrategyTest, PixelSharesLeaveBlocksToTake) {
  const std::vector<float> w(64 * 64), b(64);
  const Conv2d conv({64, 64, 1, 1, 0}, w, b);
  const Shape in{1, 40, 40, 64};
  const int mr = kernels::kernel_table(conv.isa()).conv_hifi4.mr;
  for (int cores : {2, 3}) {
    const ConvStrategy s = conv.strategy(in, cores);
    ASSERT_EQ(s.shard_layout, TensorMemoryLayout::HEIGHT_SHARDED);
    const int share_tiles = (1600 / cores + mr - 1) / mr;
    EXPECT_GE((share_tiles * mr + s.block_pixels - 1) / s.block_pixels, 4) << cores << " cores";
    EXPECT_LT(s.block_pixels, conv.strategy(in, 1).block_pixels);
  }
  const ConvStrategy block = conv.strategy({1, 8, 8, 64}, 2);
  ASSERT_EQ(block.shard_layout, TensorMemoryLayout::BLOCK_SHARDED);
  EXPECT_EQ(block.block_pixels, conv.strategy({1, 8, 8, 64}, 1).block_pixels);
}

// A core done with its own share takes what is left of another's (ShareQueue): blocks of pixels,
// or single panels where the cores split the channels of one block. Whoever runs a part, the
// output is the one core's, bit for bit, with the weights kept as they are, widened or decoded
// once per core (AVX2's bf16, bfloat8_b), or decoded per use (compact bfloat8_b). Shares of 1
// and 2 panels (or 4 blocks each) make taking likely; the runs repeat until a core took some.
TEST(Conv2dSharing, CoresTakeWhatIsLeftOfOthersSharesWithTheSameResult) {
  struct Case {
    Shape in;
    int kernel;
    WinogradTile winograd;
    TensorMemoryLayout shard;
    int block;  // act_block_h_override: 1 gives Winograd's 3 MR-rows of tiles a block each
  };
  using enum TensorMemoryLayout;
  const Case cases[] = {{{1, 8, 8, 64}, 1, WinogradTile::kNone, WIDTH_SHARDED, 0},
                        {{1, 8, 8, 64}, 3, WinogradTile::kF2x2, WIDTH_SHARDED, 0},
                        {{1, 40, 40, 32}, 1, WinogradTile::kNone, HEIGHT_SHARDED, 0},
                        {{1, 24, 24, 32}, 3, WinogradTile::kF4x4, HEIGHT_SHARDED, 1}};
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2}) {
    if (!isa_supported(isa)) continue;
    for (const Case& c : cases) {
      for (const auto& [weights_dtype, compact] :
           {std::pair{DataType::FLOAT32, false}, std::pair{DataType::BFLOAT16, false},
            std::pair{DataType::BFLOAT8_B, true}}) {
        Conv2dConfig config;
        config.weights_dtype = weights_dtype;
        config.compact_weights = compact;
        config.dtype = weights_dtype == DataType::FLOAT32 ? DataType::FLOAT32 : DataType::BFLOAT16;
        config.math_fidelity =
            weights_dtype == DataType::FLOAT32 ? MathFidelity::HiFi4 : MathFidelity::LoFi;
        config.winograd = c.winograd;
        config.shard_layout = c.shard;
        config.act_block_h_override = c.block;
        config.activation = Activation::kMish;
        const kernels::KernelTable& table = kernels::kernel_table(isa);
        const int nr = (weights_dtype == DataType::FLOAT32 ? table.conv_hifi4
                        : compact                          ? table.conv_lofi_decoded
                                                           : table.conv_lofi)
                           .nr;
        const int out_channels = 3 * nr;  // panels 1 + 2 on 2 cores
        const Conv2dParams params{c.in.c, out_channels, c.kernel, 1, c.kernel / 2};
        const auto weight = random_vector(size_t(out_channels) * c.in.c * c.kernel * c.kernel, 2);
        const auto bias = random_vector(size_t(out_channels), 3);
        const Conv2d conv(params, weight, bias, config, isa);
        const auto input = random_vector(size_t(c.in.elements()), 1);
        const Tensor in = from_nhwc(input.data(), c.in, Layout::TILE, config.dtype);
        // On a thread of its own: its per-thread scratch must not hand the two cores' caller
        // weights decoded for panels outside its share.
        std::vector<float> expected;
        std::thread([&] {
          Device one_core(1, isa);
          expected = to_nhwc(conv(one_core, in));
        }).join();
        Device two_cores(2, isa);
        testing::Recorder recorder;
        two_cores.set_observer(&recorder);
        int taken = 0;
        for (int run = 0; run < 200 && taken == 0; ++run) {
          const auto out = to_nhwc(conv(two_cores, in));
          ASSERT_EQ(out, expected) << conv.kernel_name() << " " << to_string(c.shard) << " run "
                                   << run << " " << to_string(weights_dtype);
          taken = recorder.records.back().taken;
        }
        EXPECT_GT(taken, 0) << conv.kernel_name() << " " << to_string(c.shard) << " "
                            << to_string(weights_dtype) << (compact ? " compact" : "");
      }
    }
  }
}

// A core's MR-rows cut into blocks near the cache-sized target, without a small remainder.
TEST(Conv2dBlocking, BalancedBlocksLeaveNoSmallRemainder) {
  using conv_operands::balanced_block_rows;
  EXPECT_EQ(balanced_block_rows(9, 8), 9);    // 8 + 1 would meet the weights twice
  EXPECT_EQ(balanced_block_rows(17, 8), 9);   // 9 + 8, not 8 + 8 + 1
  EXPECT_EQ(balanced_block_rows(12, 8), 6);   // 6 + 6
  EXPECT_EQ(balanced_block_rows(100, 8), 8);  // 13 blocks of 7-8
  EXPECT_EQ(balanced_block_rows(3, 8), 3);
  EXPECT_EQ(balanced_block_rows(5, 1), 1);  // act_block_h_override's smallest block
  EXPECT_EQ(balanced_block_rows(0, 8), 0);  // a core with no rows
}

}  // namespace
}  // namespace yolo4
