// upsample_nearest (scales 1 to 4, and its 2x wrapper) against the naive reference, every
// element compared exactly, on awkward shapes and TILE, ROW_MAJOR and channel-slice inputs.
#include "yolo4/ops/upsample.h"

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
    {2, 1, 7, 16}, {1, 3, 1, 32}, {1, 7, 9, 40},
};

const DataType kDtypes[] = {DataType::FLOAT32, DataType::BFLOAT16};

const Isa kIsas[] = {Isa::kAvx512, Isa::kAvx2, Isa::kScalar};

const int kScales[] = {1, 2, 3, 4};

Shape upsampled(const Shape& s, int scale) {
  return {s.n, scale * s.h, scale * s.w, s.c};
}

// Random data of `shape` (from `seed`), its expected upsampling and the input tensor holding it.
// bfloat16: the reference on the rounded data; a copy must reproduce it exactly.
struct UpsampleCase {
  std::vector<float> expected;
  Tensor in;
};
UpsampleCase upsample_case(const Shape& shape, int scale, uint32_t seed, Kind kind,
                           DataType dtype) {
  const auto data = rounded(random_vector(size_t(shape.elements()), seed), dtype);
  return {reference::upsample_nearest(data, shape, scale), make_input(data, shape, kind, dtype)};
}

// Every input kind in every dtype, each instantiation named kind_dtype.
using KindAndDtype = std::tuple<Kind, DataType>;
auto kinds_and_dtypes() {
  return ::testing::Combine(::testing::Values(Kind::kTile, Kind::kRowMajor, Kind::kSlice),
                            ::testing::ValuesIn(kDtypes));
}

class UpsampleTest : public ::testing::TestWithParam<std::tuple<Isa, Kind, DataType>> {};

TEST_P(UpsampleTest, MatchesReference) {
  const auto [isa, kind, dtype] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  for (const Shape& shape : kShapes) {
    for (int scale : kScales) {
      const auto [expected, in] = upsample_case(shape, scale, 61, kind, dtype);
      for (int threads : {1, 2, 3}) {
        Device device(threads, isa);
        const Tensor out =
            run_in_poisoned_arena(device, [&] { return upsample_nearest(device, in, scale); });
        const std::string where =
            detail::concat(shape_name(shape), " scale ", scale, " threads=", threads);
        ASSERT_EQ(out.shape(), upsampled(shape, scale)) << where;
        ASSERT_EQ(out.dtype(), dtype);
        EXPECT_EQ(to_nhwc(out), expected) << where;
        EXPECT_TRUE(tile_output_ok(out)) << where;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, UpsampleTest,
                         ::testing::Combine(::testing::ValuesIn(kIsas),
                                            ::testing::Values(Kind::kTile, Kind::kRowMajor,
                                                              Kind::kSlice),
                                            ::testing::ValuesIn(kDtypes)),
                         [](const auto& info) { return isa_kind_dtype_name(info); });

// The 2x wrappers are scale 2, and the reference agrees with the definition on a small case:
// each input pixel becomes a scale x scale block.
TEST(UpsampleValuesTest, TwoXWrappersAndBlocks) {
  const Shape shape{1, 2, 2, 1};
  const std::vector<float> data = {1, 2, 3, 4};
  EXPECT_EQ(reference::upsample_nearest(data, shape, 3),
            (std::vector<float>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));
  EXPECT_EQ(reference::upsample_nearest(data, shape, 1), data);
  Device device(2);
  const Tensor in = from_nhwc(data.data(), shape);
  const auto expected = reference::upsample_nearest(data, shape, 2);
  EXPECT_EQ(to_nhwc(upsample_nearest2x(device, in)), expected);
  const Tensor out = sentinel_tensor({1, 4, 4, 3}, DataType::FLOAT32);
  upsample_nearest2x(device, in, out.channel_slice(1, 1));
  EXPECT_EQ(to_nhwc(out.channel_slice(1, 1)), expected);
  EXPECT_TRUE(only_slice_written(out, 1, 1));
}

// Into a channel slice of a wider tensor (as into a concat): the slice gets the upsampled
// input, every other channel of the parent (its TILE padding too) keeps its value.
class UpsampleIntoTest : public ::testing::TestWithParam<KindAndDtype> {};

TEST_P(UpsampleIntoTest, WritesOnlyItsSlice) {
  const auto [kind, dtype] = GetParam();
  for (const Shape& shape : kShapes) {
    for (int scale : kScales) {
      const auto [expected, in] = upsample_case(shape, scale, 62, kind, dtype);
      const Shape out_shape = upsampled(shape, scale);
      // Slices at the start, in the middle and at the end of the parent's channels; a parent
      // width that is a multiple of the tile and one that is not.
      for (const auto& [before, after] :
           {std::pair{0, 7}, std::pair{3, 13}, std::pair{16, 0}, std::pair{5, 3}}) {
        for (int threads : {1, 2, 3}) {
          Device device(threads);
          const Shape parent_shape{out_shape.n, out_shape.h, out_shape.w, before + shape.c + after};
          const Tensor parent = sentinel_tensor(parent_shape, dtype);
          upsample_nearest(device, in, parent.channel_slice(before, shape.c), scale);
          const std::string where =
              detail::concat(shape_name(shape), " scale ", scale, " slice ", before, "+", shape.c,
                             "+", after, " threads=", threads);
          EXPECT_EQ(to_nhwc(parent.channel_slice(before, shape.c)), expected) << where;
          EXPECT_TRUE(only_slice_written(parent, before, shape.c)) << where;
        }
      }
    }
  }
}

// Into whole tensors: a TILE output (its padding zeroed over whatever was there) and a
// ROW_MAJOR one.
TEST_P(UpsampleIntoTest, IntoWholeTensors) {
  const auto [kind, dtype] = GetParam();
  for (const Shape& shape : kShapes) {
    for (int scale : kScales) {
      const auto [expected, in] = upsample_case(shape, scale, 63, kind, dtype);
      const Shape out_shape = upsampled(shape, scale);
      const std::string where = detail::concat(shape_name(shape), " scale ", scale);
      Device device(2);
      const Tensor tile = sentinel_tensor(out_shape, dtype);
      upsample_nearest(device, in, tile, scale);
      EXPECT_EQ(to_nhwc(tile), expected) << where;
      EXPECT_TRUE(tile_output_ok(tile)) << where;
      const Tensor row_major = make_host_tensor({out_shape, dtype, Layout::ROW_MAJOR, {}});
      upsample_nearest(device, in, row_major, scale);
      EXPECT_EQ(to_nhwc(row_major), expected) << where;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(KindsAndDtypes, UpsampleIntoTest, kinds_and_dtypes(),
                         kind_dtype_name<::testing::TestParamInfo<KindAndDtype>>);

TEST(UpsampleProfileTest, ReportsTheOp) {
  for (DataType dtype : kDtypes) {
    Device device(3);
    Recorder recorder;
    device.set_observer(&recorder);
    const Shape shape{1, 2, 3, 20};
    const Tensor in = make_host_tensor({shape, dtype, Layout::TILE, {}});
    {
      OpScope scope(device, "neek.upsample1");
      upsample_nearest2x(device, in);
    }
    upsample_nearest(device, in, 3);
    ASSERT_EQ(recorder.records.size(), 2u);
    const OpRecord& r = recorder.records[0];
    EXPECT_EQ(r.op, "upsample_nearest");
    EXPECT_EQ(r.path, "neek.upsample1");
    EXPECT_EQ(r.input, shape);
    EXPECT_EQ(r.output, (Shape{1, 4, 6, 20}));
    EXPECT_EQ(r.dtype, dtype);
    EXPECT_EQ(r.cores, 3);  // 4 output rows over 3 cores
    EXPECT_EQ(r.flops, 0);
    const double element = dtype == DataType::BFLOAT16 ? 2 : 4;
    EXPECT_EQ(r.bytes, element * (6 * 20 + 24 * 20));
    EXPECT_EQ(recorder.records[1].output, (Shape{1, 6, 9, 20}));
    EXPECT_EQ(recorder.records[1].bytes, element * (6 * 20 + 54 * 20));
  }
}

TEST(UpsampleErrorTest, RejectsBadInputs) {
  Device device(2);
  Tensor gone = make_host_tensor({{1, 4, 4, 8}, DataType::FLOAT32, Layout::TILE, {}});
  deallocate(gone);
  expect_error([&] { upsample_nearest2x(device, gone); },
               "upsample_nearest: input is not allocated");
  const Tensor in = make_host_tensor({{1, 4, 4, 8}, DataType::FLOAT32, Layout::TILE, {}});
  for (int scale : {0, -1, -2}) {
    expect_error([&] { upsample_nearest(device, in, scale); },
                 "upsample_nearest: scale " + std::to_string(scale) + ", expected an integer >= 1");
  }
  const Tensor out_bf16 = make_host_tensor({{1, 8, 8, 8}, DataType::BFLOAT16, Layout::TILE, {}});
  expect_error([&] { upsample_nearest2x(device, in, out_bf16); },
               "upsample_nearest: output [1, 8, 8, 8] bfloat16, expected [1, 8, 8, 8] float32 "
               "(the input upsampled by 2)");
  const Tensor out_small = make_host_tensor({{1, 8, 7, 8}, DataType::FLOAT32, Layout::TILE, {}});
  expect_error([&] { upsample_nearest2x(device, in, out_small); },
               "upsample_nearest: output [1, 8, 7, 8] float32, expected [1, 8, 8, 8] float32");
  const Tensor wide = make_host_tensor({{1, 8, 8, 16}, DataType::FLOAT32, Layout::TILE, {}});
  expect_error([&] { upsample_nearest2x(device, in, wide.channel_slice(0, 9)); },
               "upsample_nearest: output [1, 8, 8, 9] float32, expected [1, 8, 8, 8]");
  // The 2x output is not the 3x one.
  expect_error([&] { upsample_nearest(device, in, wide.channel_slice(0, 8), 3); },
               "upsample_nearest: output [1, 8, 8, 8] float32, expected [1, 12, 12, 8] float32 "
               "(the input upsampled by 3)");
  Tensor out_gone = make_host_tensor({{1, 8, 8, 8}, DataType::FLOAT32, Layout::TILE, {}});
  deallocate(out_gone);
  expect_error([&] { upsample_nearest2x(device, in, out_gone); },
               "upsample_nearest: output is not allocated");
  EXPECT_EQ(device.current_bytes(), 0u);
}

}  // namespace
}  // namespace yolo4
