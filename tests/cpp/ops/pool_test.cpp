// max_pool2d (darknet's general size / stride / padding and the stride-1 kernel overloads) and
// spp_pools against the naive reference, every element compared exactly, on awkward shapes
// (windows larger than the image) and TILE, ROW_MAJOR and channel-slice inputs.
#include "yolo4/ops/pool.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "op_test_util.h"
#include "test_util.h"
#include "yolo4/core/error.h"
#include "yolo4/ops/layout.h"
#include "yolo4/ops/reference.h"

namespace yolo4 {
namespace {

// The shared helpers of test_util.h and op_test_util.h.
using namespace yolo4::testing;

const Shape kShapes[] = {
    {1, 1, 1, 1},  {1, 1, 1, 3},  {2, 5, 3, 17}, {1, 13, 13, 255},
    {1, 2, 9, 16}, {2, 13, 1, 3}, {1, 6, 7, 32}, {1, 19, 19, 8},
};

// All negative: with zero padding instead of -inf, every border output would be 0.
std::vector<float> negative_data(const Shape& shape, uint32_t seed) {
  return random_vector(size_t(shape.elements()), seed, -3.0f, -0.5f);
}

const DataType kDtypes[] = {DataType::FLOAT32, DataType::BFLOAT16};

const Isa kIsas[] = {Isa::kAvx512, Isa::kAvx2, Isa::kScalar};

// darknet's (size, stride) pairs: yolov4-tiny's 2/2, YOLOv3-tiny's 2/1, Yolo-Fastest's 9/1 and
// SPP's 5, 9, 13 / 1, plus odd windows with stride 2.
const std::pair<int, int> kSizeStrides[] = {{2, 2}, {2, 1}, {3, 1}, {3, 2},
                                            {5, 1}, {9, 1}, {13, 1}};

// Shapes for the general pool: odd and 1x1 images, C = 3, 17, 40 (not multiples of the tile).
const Shape kParamShapes[] = {
    {1, 1, 1, 1},  {1, 1, 1, 3},  {2, 5, 3, 17}, {1, 13, 13, 40},
    {1, 2, 9, 16}, {2, 13, 1, 3}, {1, 6, 7, 32}, {1, 26, 26, 17},
};

// The paddings tested for a size: darknet's default (-1), 0, 1 and size - 1, each once.
std::vector<int> paddings_for(int size) {
  std::vector<int> paddings;
  for (int padding : {-1, 0, 1, size - 1}) {
    if (padding <= 2 * (size - 1) &&
        std::find(paddings.begin(), paddings.end(), padding) == paddings.end()) {
      paddings.push_back(padding);
    }
  }
  return paddings;
}

int resolved(const MaxPool2dParams& params) {
  return params.padding == -1 ? params.size - 1 : params.padding;
}

// darknet's make_maxpool_layer: (H + padding - size) / stride + 1, for windows that fit.
Shape pooled_shape(const Shape& in, const MaxPool2dParams& params) {
  const int padding = resolved(params);
  return {in.n, (in.h + padding - params.size) / params.stride + 1,
          (in.w + padding - params.size) / params.stride + 1, in.c};
}

bool window_fits(const Shape& in, const MaxPool2dParams& params) {
  return in.h + resolved(params) >= params.size && in.w + resolved(params) >= params.size;
}

std::string params_name(const MaxPool2dParams& params) {
  return detail::concat("size ", params.size, " stride ", params.stride, " padding ",
                        params.padding);
}

// The max is exact in either dtype: bfloat16 inputs compare against the reference on the
// rounded data, bit for bit.
class MaxPoolTest : public ::testing::TestWithParam<std::tuple<int, Kind, DataType>> {};

TEST_P(MaxPoolTest, MatchesReference) {
  const auto [kernel, kind, dtype] = GetParam();
  for (const Shape& shape : kShapes) {
    const auto data = rounded(negative_data(shape, 31), dtype);
    const auto expected = reference::max_pool2d(data, shape, kernel);
    const Tensor in = make_input(data, shape, kind, dtype);
    for (int threads : {1, 2, 3}) {
      Device device(threads);
      const Tensor out =
          run_in_poisoned_arena(device, [&] { return max_pool2d(device, in, kernel); });
      ASSERT_EQ(out.shape(), shape);
      ASSERT_EQ(out.dtype(), dtype);
      EXPECT_EQ(to_nhwc(out), expected) << shape_name(shape) << " threads=" << threads;
      EXPECT_TRUE(tile_output_ok(out)) << shape_name(shape) << " threads=" << threads;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, MaxPoolTest,
                         ::testing::Combine(::testing::Values(1, 3, 5, 9, 13),
                                            ::testing::Values(Kind::kTile, Kind::kRowMajor,
                                                              Kind::kSlice),
                                            ::testing::ValuesIn(kDtypes)),
                         [](const auto& info) {
                           // detail::concat: GCC 12 warns falsely on "k" + std::string.
                           return detail::concat("k", std::get<0>(info.param), "_",
                                                 kind_name(std::get<1>(info.param)), "_",
                                                 dtype_name(std::get<2>(info.param)));
                         });

// The general pool on every ISA, every (size, stride) and padding, every input kind and dtype.
// Shapes a window does not fit must throw instead.
class MaxPoolParamsTest : public ::testing::TestWithParam<std::tuple<Isa, Kind, DataType>> {};

TEST_P(MaxPoolParamsTest, MatchesReference) {
  const auto [isa, kind, dtype] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  for (const Shape& shape : kParamShapes) {
    const auto data = rounded(negative_data(shape, 33), dtype);
    const Tensor in = make_input(data, shape, kind, dtype);
    for (const auto& [size, stride] : kSizeStrides) {
      for (int padding : paddings_for(size)) {
        const MaxPool2dParams params{size, stride, padding};
        const std::string where = shape_name(shape) + " " + params_name(params);
        if (!window_fits(shape, params)) {
          Device device(1, isa);
          expect_error([&] { max_pool2d(device, in, params); }, "max_pool2d: input [");
          continue;
        }
        const auto expected = reference::max_pool2d(data, shape, params);
        for (int threads : {1, 3}) {
          Device device(threads, isa);
          const Tensor out =
              run_in_poisoned_arena(device, [&] { return max_pool2d(device, in, params); });
          ASSERT_EQ(out.shape(), pooled_shape(shape, params)) << where;
          ASSERT_EQ(out.dtype(), dtype);
          EXPECT_EQ(to_nhwc(out), expected) << where << " threads=" << threads;
          EXPECT_TRUE(tile_output_ok(out)) << where << " threads=" << threads;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, MaxPoolParamsTest,
                         ::testing::Combine(::testing::ValuesIn(kIsas),
                                            ::testing::Values(Kind::kTile, Kind::kRowMajor,
                                                              Kind::kSlice),
                                            ::testing::ValuesIn(kDtypes)),
                         [](const auto& info) { return isa_kind_dtype_name(info); });

// darknet's semantics on a 3x3 image of -1..-9 (row by row), worked by hand: the window of
// output y starts at y * stride - padding / 2, the rest of the padding after the image, and
// padding never wins (all values are negative, so a zero would).
TEST(MaxPoolParamsTest, DarknetWindowsByHand) {
  const Shape shape{1, 3, 3, 1};
  const std::vector<float> data = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
  const Tensor in = from_nhwc(data.data(), shape);
  Device device(2);
  struct Case {
    MaxPool2dParams params;
    int out_h, out_w;
    std::vector<float> expected;
  };
  const Case cases[] = {
      // size 2 stride 2, default padding 1 (all after): windows rows {0,1}, {2}.
      {{2, 2, -1}, 2, 2, {-1, -3, -7, -9}},
      // size 2 stride 1, padding 1 (YOLOv3-tiny): keeps 3x3, windows {y, y+1} clipped.
      {{2, 1, -1}, 3, 3, {-1, -2, -3, -4, -5, -6, -7, -8, -9}},
      // size 2 stride 1, padding 0: 2x2.
      {{2, 1, 0}, 2, 2, {-1, -2, -4, -5}},
      // size 3 stride 2, padding 1 (after): (3 + 1 - 3) / 2 + 1 = 1 window, rows {0,1,2}.
      {{3, 2, 1}, 1, 1, {-1}},
      // size 3 stride 2, padding 2: 1 before, 1 after; windows {0,1}, {1,2}.
      {{3, 2, 2}, 2, 2, {-1, -2, -4, -5}},
      // size 3 stride 1, padding 4: 2 before, 2 after; 5x5 outputs, windows {y-2..y} clipped.
      {{3, 1, 4}, 5, 5, {-1, -1, -1, -2, -3, -1, -1, -1, -2, -3, -1, -1, -1,
                         -2, -3, -4, -4, -4, -5, -6, -7, -7, -7, -8, -9}},
  };
  for (const Case& c : cases) {
    const Tensor out = max_pool2d(device, in, c.params);
    EXPECT_EQ(out.shape(), (Shape{1, c.out_h, c.out_w, 1})) << params_name(c.params);
    EXPECT_EQ(to_nhwc(out), c.expected) << params_name(c.params);
    EXPECT_EQ(reference::max_pool2d(data, shape, c.params), c.expected) << params_name(c.params);
  }
}

// The cfg layers the general pool exists for keep or halve the shape as darknet prints them.
TEST(MaxPoolParamsTest, DarknetOutputShapes) {
  Device device(2);
  const auto pooled = [&](const Shape& shape, const MaxPool2dParams& params) {
    return max_pool2d(device, make_host_tensor({shape, DataType::FLOAT32, Layout::TILE, {}}),
                      params)
        .shape();
  };
  EXPECT_EQ(pooled({1, 26, 26, 8}, {2, 2, -1}), (Shape{1, 13, 13, 8}));  // yolov4-tiny
  EXPECT_EQ(pooled({1, 13, 13, 8}, {2, 1, -1}), (Shape{1, 13, 13, 8}));  // yolov3-tiny
  EXPECT_EQ(pooled({1, 10, 10, 8}, {9, 1, -1}), (Shape{1, 10, 10, 8}));  // Yolo-Fastest
  EXPECT_EQ(pooled({1, 416, 416, 3}, {2, 2, -1}), (Shape{1, 208, 208, 3}));
  EXPECT_EQ(pooled({1, 13, 13, 8}, {2, 2, -1}), (Shape{1, 7, 7, 8}));  // odd: the last clipped
  EXPECT_EQ(pooled({1, 13, 13, 8}, {2, 2, 0}), (Shape{1, 6, 6, 8}));
}

// The claim spp_pools rests on, checked on the reference alone: for stride-1 max pools with
// -inf padding, pool_a(pool_b(x)) == pool_(a+b-1)(x), image borders included.
TEST(SppTest, PoolsComposeExactlyInTheReference) {
  for (int h : {1, 2, 3, 4, 6, 9, 13, 14}) {
    for (int w : {1, 3, 5, 8, 13, 17}) {
      const Shape shape{2, h, w, 3};
      const auto data = random_vector(size_t(shape.elements()), uint32_t(h * 100 + w));
      const auto p5 = reference::max_pool2d(data, shape, 5);
      const auto p5p5 = reference::max_pool2d(p5, shape, 5);
      EXPECT_EQ(p5p5, reference::max_pool2d(data, shape, 9)) << h << "x" << w;
      EXPECT_EQ(reference::max_pool2d(p5p5, shape, 5), reference::max_pool2d(data, shape, 13))
          << h << "x" << w;
      EXPECT_EQ(reference::max_pool2d(reference::max_pool2d(data, shape, 3), shape, 3),
                reference::max_pool2d(data, shape, 5))
          << h << "x" << w;
    }
  }
}

class SppTest : public ::testing::TestWithParam<std::tuple<Kind, DataType>> {};

// spp_pools (pool5 applied three times) against pools of 5, 9 and 13 computed directly.
TEST_P(SppTest, MatchesDirectReferencePools) {
  const auto [kind, dtype] = GetParam();
  for (const Shape& shape : kShapes) {
    const auto data = rounded(negative_data(shape, 41), dtype);
    const Tensor in = make_input(data, shape, kind, dtype);
    for (int threads : {1, 2, 3}) {
      Device device(threads);
      const auto pools = run_in_poisoned_arena(device, [&] { return spp_pools(device, in); });
      const int kernels[3] = {5, 9, 13};
      for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(pools[i].dtype(), dtype);
        EXPECT_EQ(to_nhwc(pools[i]), reference::max_pool2d(data, shape, kernels[i]))
            << "pool" << kernels[i] << " " << shape_name(shape) << " threads=" << threads;
        EXPECT_TRUE(tile_output_ok(pools[i])) << "pool" << kernels[i] << " " << shape_name(shape);
      }
    }
  }
}

// As the neck's SPP block: input x in the last quarter of a concat tensor, the pools written
// straight into the other three ([pool13, pool9, pool5, x]). C not a multiple of the tile, so
// the parent has padding channels, which no slice may touch.
TEST(SppIntoTest, IntoSlicesOfOneConcat) {
  for (DataType dtype : kDtypes) {
    for (const Shape& shape : kShapes) {
      const auto data = rounded(negative_data(shape, 42), dtype);
      const int c = shape.c;
      for (int threads : {1, 2, 3}) {
        Device device(threads);
        const Tensor spp = sentinel_tensor({shape.n, shape.h, shape.w, 4 * c}, dtype);
        const Tensor x = spp.channel_slice(3 * c, c);
        for (int64_t p = 0; p < shape.pixels(); ++p) {
          for (int ch = 0; ch < c; ++ch)
            set_element(x, p * x.pixel_stride() + ch, data[p * c + ch]);
        }
        spp_pools(device, x, spp.channel_slice(2 * c, c), spp.channel_slice(c, c),
                  spp.channel_slice(0, c));
        const std::string where =
            detail::concat(shape_name(shape), " ", dtype_name(dtype), " threads=", threads);
        EXPECT_EQ(to_nhwc(spp.channel_slice(0, c)), reference::max_pool2d(data, shape, 13))
            << where;
        EXPECT_EQ(to_nhwc(spp.channel_slice(c, c)), reference::max_pool2d(data, shape, 9)) << where;
        EXPECT_EQ(to_nhwc(spp.channel_slice(2 * c, c)), reference::max_pool2d(data, shape, 5))
            << where;
        EXPECT_EQ(to_nhwc(x), data) << where;
        // Channels past 4C: the parent's TILE padding, never written by a slice.
        EXPECT_TRUE(only_slice_written(spp, 0, 4 * c)) << where;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(KindsAndDtypes, SppTest,
                         ::testing::Combine(::testing::Values(Kind::kTile, Kind::kRowMajor,
                                                              Kind::kSlice),
                                            ::testing::ValuesIn(kDtypes)),
                         [](const auto& info) { return kind_dtype_name(info); });

// max_pool2d into a channel slice of a wider tensor: the slice gets the pool, every other
// channel of the parent (its padding too) keeps its value. Into a whole TILE tensor: the
// padding is zeroed over whatever was there.
class MaxPoolIntoTest : public ::testing::TestWithParam<std::tuple<Kind, DataType>> {};

TEST_P(MaxPoolIntoTest, WritesOnlyItsSlice) {
  const auto [kind, dtype] = GetParam();
  // The stride-1 same-padding pool (SPP's) and downsampling ones.
  const MaxPool2dParams kParams[] = {{5, 1, 4}, {2, 2, -1}, {3, 2, 1}, {2, 1, -1}};
  for (const Shape& shape : kShapes) {
    const auto data = rounded(negative_data(shape, 43), dtype);
    const Tensor in = make_input(data, shape, kind, dtype);
    for (const MaxPool2dParams& params : kParams) {
      if (!window_fits(shape, params)) continue;
      const auto expected = reference::max_pool2d(data, shape, params);
      const Shape out = pooled_shape(shape, params);
      for (const auto& [before, after] : {std::pair{0, 7}, std::pair{3, 13}, std::pair{16, 0}}) {
        for (int threads : {1, 3}) {
          Device device(threads);
          const Tensor parent =
              sentinel_tensor({out.n, out.h, out.w, before + shape.c + after}, dtype);
          max_pool2d(device, in, parent.channel_slice(before, shape.c), params);
          const std::string where =
              detail::concat(shape_name(shape), " ", params_name(params), " slice ", before, "+",
                             shape.c, "+", after, " threads=", threads);
          EXPECT_EQ(to_nhwc(parent.channel_slice(before, shape.c)), expected) << where;
          EXPECT_TRUE(only_slice_written(parent, before, shape.c)) << where;
        }
      }
      const std::string where = shape_name(shape) + " " + params_name(params);
      Device device(2);
      const Tensor tile = sentinel_tensor(out, dtype);
      max_pool2d(device, in, tile, params);
      EXPECT_EQ(to_nhwc(tile), expected) << where;
      EXPECT_TRUE(tile_output_ok(tile)) << where;
      const Tensor row_major = make_host_tensor({out, dtype, Layout::ROW_MAJOR, {}});
      max_pool2d(device, in, row_major, params);
      EXPECT_EQ(to_nhwc(row_major), expected) << where;
    }
    // The kernel overload writes into a slice the same way.
    Device device(2);
    const Tensor parent = sentinel_tensor({shape.n, shape.h, shape.w, shape.c + 5}, dtype);
    max_pool2d(device, in, parent.channel_slice(2, shape.c), 5);
    EXPECT_EQ(to_nhwc(parent.channel_slice(2, shape.c)), reference::max_pool2d(data, shape, 5));
    EXPECT_TRUE(only_slice_written(parent, 2, shape.c)) << shape_name(shape);
  }
}

INSTANTIATE_TEST_SUITE_P(KindsAndDtypes, MaxPoolIntoTest,
                         ::testing::Combine(::testing::Values(Kind::kTile, Kind::kRowMajor,
                                                              Kind::kSlice),
                                            ::testing::ValuesIn(kDtypes)),
                         [](const auto& info) { return kind_dtype_name(info); });

// Mixed signs and repeated values: the max is exact, so the fast path must match bit for bit.
TEST(MaxPoolValuesTest, MixedSignsAndTies) {
  const Shape shape{1, 9, 11, 20};
  auto data = random_vector(size_t(shape.elements()), 51, -1.0f, 1.0f);
  for (size_t i = 0; i < data.size(); i += 7) data[i] = 0.5f;
  Device device(2);
  const Tensor out = max_pool2d(device, from_nhwc(data.data(), shape), 9);
  EXPECT_EQ(to_nhwc(out), reference::max_pool2d(data, shape, 9));
}

// bfloat16: the output is the winning input element itself, bit for bit (no rounding on the
// way), including values that differ only in their last mantissa bit.
TEST(MaxPoolValuesTest, Bfloat16KeepsTheWinningElement) {
  const Shape shape{1, 7, 9, 19};
  auto data = random_vector(size_t(shape.elements()), 52, -2.0f, 2.0f);
  data = rounded(data, DataType::BFLOAT16);
  for (size_t i = 0; i + shape.c < data.size(); i += 5) {
    // A pixel and its right-hand neighbour one bfloat16 ulp apart in this channel.
    bfloat16 b = to_bfloat16(data[i]);
    b.bits = uint16_t(b.bits + 1);
    data[i + shape.c] = to_float(b);
  }
  Device device(2);
  const Tensor in = from_nhwc(data.data(), shape, Layout::ROW_MAJOR, DataType::BFLOAT16);
  const Tensor out = max_pool2d(device, in, 3);
  const auto expected = reference::max_pool2d(data, shape, 3);
  for (int64_t p = 0; p < shape.pixels(); ++p) {
    for (int ch = 0; ch < shape.c; ++ch) {
      const uint16_t got = out.data<bfloat16>()[p * out.pixel_stride() + ch].bits;
      ASSERT_EQ(got, to_bfloat16(expected[p * shape.c + ch]).bits)
          << "pixel " << p << " channel " << ch;
    }
  }
}

TEST(MaxPoolProfileTest, ReportsTheOpWithItsComparisons) {
  for (DataType dtype : kDtypes) {
    Device device(2);
    Recorder recorder;
    device.set_observer(&recorder);
    const Shape shape{2, 3, 3, 5};
    const Tensor in = make_host_tensor({shape, dtype, Layout::TILE, {}});
    spp_pools(device, in);
    ASSERT_EQ(recorder.records.size(), 3u);  // three 5-pools
    for (const OpRecord& r : recorder.records) {
      EXPECT_EQ(r.op, "max_pool2d");
      EXPECT_EQ(r.input, shape);
      EXPECT_EQ(r.output, shape);
      EXPECT_EQ(r.dtype, dtype);
      EXPECT_EQ(r.cores, 2);
      // A 5-window clipped to 3 positions covers all 3 everywhere: 2 maxes per element per
      // pass, two separable passes.
      EXPECT_EQ(r.flops, double(shape.elements()) * 2 * 2);
      const double element = dtype == DataType::BFLOAT16 ? 2 : 4;
      EXPECT_EQ(r.bytes, 2 * element * double(shape.elements()));
    }
  }
  // A 3-window on a 1x3 row: 1 + 2 + 1 maxes along W, none along H.
  Device device(1);
  Recorder recorder;
  device.set_observer(&recorder);
  max_pool2d(device, make_host_tensor({{1, 1, 3, 4}, DataType::FLOAT32, Layout::TILE, {}}), 3);
  ASSERT_EQ(recorder.records.size(), 1u);
  EXPECT_EQ(recorder.records[0].flops, 4.0 * 4);
  // Size 2 stride 2 on 5x4 (padding 1, after): output 3x2, windows of rows {0,1}, {2,3}, {4}
  // and columns {0,1}, {2,3}. Vertical: 2 maxes for each of 4 columns; horizontal: 1 max for
  // each of 3 x 2 outputs.
  const Tensor in = make_host_tensor({{1, 5, 4, 3}, DataType::FLOAT32, Layout::TILE, {}});
  max_pool2d(device, in, MaxPool2dParams{2, 2, -1});
  ASSERT_EQ(recorder.records.size(), 2u);
  const OpRecord& r = recorder.records[1];
  EXPECT_EQ(r.input, (Shape{1, 5, 4, 3}));
  EXPECT_EQ(r.output, (Shape{1, 3, 2, 3}));
  EXPECT_EQ(r.flops, 3.0 * (4 * 2 + 3 * 2));
  EXPECT_EQ(r.bytes, 4.0 * (60 + 18));
}

TEST(MaxPoolErrorTest, RejectsBadInputs) {
  Device device(2);
  const Tensor in = make_host_tensor({{1, 4, 4, 8}, DataType::FLOAT32, Layout::TILE, {}});
  for (int kernel : {0, -1, 2, 4}) {
    expect_error([&] { max_pool2d(device, in, kernel); },
                 "max_pool2d: kernel " + std::to_string(kernel) + ", expected an odd kernel");
  }
  Tensor gone = in;
  deallocate(gone);
  expect_error([&] { max_pool2d(device, gone, 5); }, "max_pool2d: input is not allocated");
  expect_error([&] { spp_pools(device, gone); }, "max_pool2d: input is not allocated");
  expect_error([&] { max_pool2d(device, in, gone, 5); }, "max_pool2d: output is not allocated");

  const Tensor out_bf16 = make_host_tensor({{1, 4, 4, 8}, DataType::BFLOAT16, Layout::TILE, {}});
  expect_error([&] { max_pool2d(device, in, out_bf16, 5); },
               "max_pool2d: output [1, 4, 4, 8] bfloat16, expected [1, 4, 4, 8] float32 (the "
               "input [1, 4, 4, 8] pooled by size 5 stride 1 padding 4)");
  const Tensor out_wide = make_host_tensor({{1, 4, 4, 9}, DataType::FLOAT32, Layout::TILE, {}});
  expect_error([&] { max_pool2d(device, in, out_wide, 5); },
               "max_pool2d: output [1, 4, 4, 9] float32, expected [1, 4, 4, 8] float32");
  // A stride-2 pool halves the shape: the input's shape is no longer the output's.
  expect_error(
      [&] {
        max_pool2d(device, in, out_wide.channel_slice(0, 8), {2, 2, -1});
      },
      "max_pool2d: output [1, 4, 4, 8] float32, expected [1, 2, 2, 8] float32");
  expect_error([&] { max_pool2d(device, in, in, 5); }, "max_pool2d: output is the input");
  const Tensor ok = make_host_tensor({{1, 4, 4, 8}, DataType::FLOAT32, Layout::TILE, {}});
  // spp_pools checks all three outputs before writing any.
  set_element(ok, 0, 7.0f);
  expect_error([&] { spp_pools(device, in, ok, ok.channel_slice(0, 8), out_bf16); },
               "max_pool2d: output [1, 4, 4, 8] bfloat16");
  EXPECT_EQ(element_at(ok, 0), 7.0f);
  EXPECT_EQ(device.current_bytes(), 0u);
}

TEST(MaxPoolErrorTest, RejectsBadParams) {
  Device device(2);
  const Tensor in = make_host_tensor({{1, 4, 5, 8}, DataType::FLOAT32, Layout::TILE, {}});
  const auto pool = [&](int size, int stride, int padding) {
    return [&device, &in, size, stride, padding] {
      max_pool2d(device, in, MaxPool2dParams{size, stride, padding});
    };
  };
  expect_error(pool(0, 1, -1), "max_pool2d: size 0, expected >= 1");
  expect_error(pool(-3, 1, 0), "max_pool2d: size -3, expected >= 1");
  expect_error(pool(2, 0, -1), "max_pool2d: stride 0, expected >= 1");
  expect_error(pool(2, -1, -1), "max_pool2d: stride -1, expected >= 1");
  expect_error(pool(3, 1, -2), "max_pool2d: padding -2 for size 3, expected 0..4");
  // Padding 5 would leave the last window of size 3 wholly past the image.
  expect_error(pool(3, 1, 5), "max_pool2d: padding 5 for size 3, expected 0..4");
  expect_error(pool(1, 1, 1), "max_pool2d: padding 1 for size 1, expected 0..0");
  // 4 rows + padding 0 hold no window of 5; padding 1 still none of 6.
  expect_error(pool(5, 1, 0),
               "max_pool2d: input [1, 4, 5, 8] has no size 5 window with "
               "padding 0, expected H and W >= 5");
  expect_error(pool(6, 2, 1), "expected H and W >= 5");
  // Largest windows that still fit: 4 + 0 and 4 + 2 * (size - 1).
  EXPECT_EQ(max_pool2d(device, in, MaxPool2dParams{4, 1, 0}).shape(), (Shape{1, 1, 2, 8}));
  EXPECT_EQ(max_pool2d(device, in, MaxPool2dParams{1, 3, 0}).shape(), (Shape{1, 2, 2, 8}));
  // Nothing allocated by a failed op (the successful ones above released theirs).
  EXPECT_EQ(device.current_bytes(), 0u);
}

}  // namespace
}  // namespace yolo4
