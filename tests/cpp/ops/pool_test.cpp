// max_pool2d and spp_pools against the naive reference, every element compared exactly, on
// awkward shapes (windows larger than the image) and TILE, ROW_MAJOR and channel-slice inputs.
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
  for (const Shape& shape : kShapes) {
    const auto data = rounded(negative_data(shape, 43), dtype);
    const auto expected = reference::max_pool2d(data, shape, 5);
    const Tensor in = make_input(data, shape, kind, dtype);
    for (const auto& [before, after] : {std::pair{0, 7}, std::pair{3, 13}, std::pair{16, 0}}) {
      for (int threads : {1, 2, 3}) {
        Device device(threads);
        const Tensor parent =
            sentinel_tensor({shape.n, shape.h, shape.w, before + shape.c + after}, dtype);
        max_pool2d(device, in, parent.channel_slice(before, shape.c), 5);
        const std::string where = detail::concat(shape_name(shape), " slice ", before, "+", shape.c,
                                                 "+", after, " threads=", threads);
        EXPECT_EQ(to_nhwc(parent.channel_slice(before, shape.c)), expected) << where;
        EXPECT_TRUE(only_slice_written(parent, before, shape.c)) << where;
      }
    }
    Device device(2);
    const Tensor tile = sentinel_tensor(shape, dtype);
    max_pool2d(device, in, tile, 5);
    EXPECT_EQ(to_nhwc(tile), expected) << shape_name(shape);
    EXPECT_TRUE(tile_output_ok(tile)) << shape_name(shape);
    const Tensor row_major = make_host_tensor({shape, dtype, Layout::ROW_MAJOR, {}});
    max_pool2d(device, in, row_major, 5);
    EXPECT_EQ(to_nhwc(row_major), expected) << shape_name(shape);
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
  expect_error(
      [&] { max_pool2d(device, in, out_bf16, 5); },
      "max_pool2d: output [1, 4, 4, 8] bfloat16, expected the input's [1, 4, 4, 8] float32");
  const Tensor out_wide = make_host_tensor({{1, 4, 4, 9}, DataType::FLOAT32, Layout::TILE, {}});
  expect_error([&] { max_pool2d(device, in, out_wide, 5); },
               "max_pool2d: output [1, 4, 4, 9] float32, expected the input's [1, 4, 4, 8]");
  expect_error([&] { max_pool2d(device, in, in, 5); }, "max_pool2d: output is the input");
  const Tensor ok = make_host_tensor({{1, 4, 4, 8}, DataType::FLOAT32, Layout::TILE, {}});
  // spp_pools checks all three outputs before writing any.
  set_element(ok, 0, 7.0f);
  expect_error([&] { spp_pools(device, in, ok, ok.channel_slice(0, 8), out_bf16); },
               "max_pool2d: output [1, 4, 4, 8] bfloat16");
  EXPECT_EQ(element_at(ok, 0), 7.0f);
  EXPECT_EQ(device.current_bytes(), 0u);
}

}  // namespace
}  // namespace yolo4
