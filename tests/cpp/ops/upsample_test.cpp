// upsample_nearest2x against the naive reference, every element compared exactly, on awkward
// shapes and TILE, ROW_MAJOR and channel-slice inputs.
#include "yolo4/ops/upsample.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "test_util.h"
#include "yolo4/core/error.h"
#include "yolo4/ops/layout.h"
#include "yolo4/ops/reference.h"

namespace yolo4 {
namespace {

using testing::random_vector;

// --- helpers shared in spirit by the op tests (each test file keeps its own copy) ----------

enum class Kind { kTile, kRowMajor, kSlice };
std::string kind_name(Kind kind) {
  return kind == Kind::kTile ? "tile" : kind == Kind::kRowMajor ? "row_major" : "slice";
}

std::string dtype_name(DataType dtype) {
  return std::string(to_string(dtype));
}

// Never a valid input value: an op that reads outside a slice's channels shows it in its output.
constexpr float kSentinel = 1e30f;

// Element `index` of a float32 or bfloat16 tensor's storage as a float.
float element_at(const Tensor& t, int64_t index) {
  return t.dtype() == DataType::BFLOAT16 ? to_float(t.data<bfloat16>()[index])
                                         : t.data<float>()[index];
}

// The values a tensor of `dtype` made from `data` holds: bfloat16 rounds each one.
std::vector<float> rounded(std::vector<float> data, DataType dtype) {
  if (dtype == DataType::BFLOAT16) {
    for (float& x : data) x = to_float(to_bfloat16(x));
  }
  return data;
}

// `data` (plain NHWC) as a TILE tensor, a ROW_MAJOR tensor, or a channel slice of a wider TILE
// tensor whose other channels hold kSentinel, in `dtype` (bfloat16 rounds the data).
Tensor make_input(const std::vector<float>& data, const Shape& shape, Kind kind,
                  DataType dtype = DataType::FLOAT32) {
  if (kind != Kind::kSlice) {
    return from_nhwc(data.data(), shape, kind == Kind::kTile ? Layout::TILE : Layout::ROW_MAJOR,
                     dtype);
  }
  constexpr int kBefore = 5, kAfter = 3;
  const Shape wide{shape.n, shape.h, shape.w, shape.c + kBefore + kAfter};
  std::vector<float> parent(size_t(wide.elements()), kSentinel);
  for (int64_t p = 0; p < shape.pixels(); ++p) {
    std::copy_n(&data[p * shape.c], shape.c, &parent[p * wide.c + kBefore]);
  }
  return from_nhwc(parent.data(), wide, Layout::TILE, dtype).channel_slice(kBefore, shape.c);
}

// Runs op() twice on a fresh device: a capture pass, then a replay whose output lands in an
// arena filled with NaN, so every element the test then reads (padding too) was written by op.
template <class Op>
auto run_in_poisoned_arena(Device& device, const Op& op) {
  device.allocator().begin_capture();
  op();
  device.allocator().end_capture();
  device.allocator().poison_arena();
  device.allocator().begin_replay();
  return op();
}

::testing::AssertionResult tile_output_ok(const Tensor& t) {
  if (t.layout() != Layout::TILE) return ::testing::AssertionFailure() << "output is not TILE";
  for (int64_t p = 0; p < t.shape().pixels(); ++p) {
    for (int64_t ch = t.shape().c; ch < t.pixel_stride(); ++ch) {
      if (element_at(t, p * t.pixel_stride() + ch) != 0.0f) {
        return ::testing::AssertionFailure() << "padding channel " << ch << " of pixel " << p
                                             << " is " << element_at(t, p * t.pixel_stride() + ch);
      }
    }
  }
  return ::testing::AssertionSuccess();
}

std::string shape_name(const Shape& s) {
  return detail::concat(s.n, "x", s.h, "x", s.w, "x", s.c);
}

// The message names the op, the input and what was expected.
template <class F>
void expect_error(const F& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Collects what ops report when profiled.
struct Recorder final : OpObserver {
  std::vector<OpRecord> records;
  void record(const OpRecord& r) override { records.push_back(r); }
};

// Sets element `index` of a float32 or bfloat16 tensor's storage (rounding for bfloat16).
void set_element(const Tensor& t, int64_t index, float value) {
  if (t.dtype() == DataType::BFLOAT16) {
    t.data<bfloat16>()[index] = to_bfloat16(value);
  } else {
    t.data<float>()[index] = value;
  }
}

// A TILE tensor whose every element, padding channels included, holds kSentinel (rounded to
// the dtype): the destination of ops writing into a slice of it.
Tensor sentinel_tensor(const Shape& shape, DataType dtype) {
  Tensor t = make_host_tensor({shape, dtype, Layout::TILE, {}});
  for (int64_t i = 0; i < shape.pixels() * t.pixel_stride(); ++i) set_element(t, i, kSentinel);
  return t;
}

// Every element of `parent` outside channels [first, first + count), its padding included,
// still holds kSentinel.
::testing::AssertionResult only_slice_written(const Tensor& parent, int first, int count) {
  const float sentinel = rounded({kSentinel}, parent.dtype())[0];
  for (int64_t p = 0; p < parent.shape().pixels(); ++p) {
    for (int64_t ch = 0; ch < parent.pixel_stride(); ++ch) {
      if (ch >= first && ch < first + count) continue;
      const float v = element_at(parent, p * parent.pixel_stride() + ch);
      if (v != sentinel) {
        return ::testing::AssertionFailure()
               << "channel " << ch << " of pixel " << p << " is " << v << ", outside the slice ["
               << first << ", " << first + count << ")";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// ------------------------------------------------------------------------------------------

const Shape kShapes[] = {
    {1, 1, 1, 1},  {1, 1, 1, 3},  {2, 5, 3, 17},    {1, 13, 13, 255},
    {2, 1, 7, 16}, {1, 3, 1, 32}, {1, 10, 10, 255},
};

const DataType kDtypes[] = {DataType::FLOAT32, DataType::BFLOAT16};

class UpsampleTest : public ::testing::TestWithParam<std::tuple<Kind, DataType>> {};

TEST_P(UpsampleTest, MatchesReference) {
  const auto [kind, dtype] = GetParam();
  for (const Shape& shape : kShapes) {
    // bfloat16: the reference on the rounded data; a copy must reproduce it exactly.
    const auto data = rounded(random_vector(size_t(shape.elements()), 61), dtype);
    const auto expected = reference::upsample_nearest2x(data, shape);
    const Tensor in = make_input(data, shape, kind, dtype);
    for (int threads : {1, 2, 3}) {
      Device device(threads);
      const Tensor out =
          run_in_poisoned_arena(device, [&] { return upsample_nearest2x(device, in); });
      ASSERT_EQ(out.shape(), (Shape{shape.n, 2 * shape.h, 2 * shape.w, shape.c}));
      ASSERT_EQ(out.dtype(), dtype);
      EXPECT_EQ(to_nhwc(out), expected) << shape_name(shape) << " threads=" << threads;
      EXPECT_TRUE(tile_output_ok(out)) << shape_name(shape) << " threads=" << threads;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(KindsAndDtypes, UpsampleTest,
                         ::testing::Combine(::testing::Values(Kind::kTile, Kind::kRowMajor,
                                                              Kind::kSlice),
                                            ::testing::ValuesIn(kDtypes)),
                         [](const auto& info) {
                           return kind_name(std::get<0>(info.param)) + "_" +
                                  dtype_name(std::get<1>(info.param));
                         });

// Into a channel slice of a wider tensor (as into a concat): the slice gets the upsampled
// input, every other channel of the parent (its TILE padding too) keeps its value.
class UpsampleIntoTest : public ::testing::TestWithParam<std::tuple<Kind, DataType>> {};

TEST_P(UpsampleIntoTest, WritesOnlyItsSlice) {
  const auto [kind, dtype] = GetParam();
  for (const Shape& shape : kShapes) {
    const auto data = rounded(random_vector(size_t(shape.elements()), 62), dtype);
    const auto expected = reference::upsample_nearest2x(data, shape);
    const Tensor in = make_input(data, shape, kind, dtype);
    const Shape out_shape{shape.n, 2 * shape.h, 2 * shape.w, shape.c};
    // Slices at the start, in the middle and at the end of the parent's channels; a parent
    // width that is a multiple of the tile and one that is not.
    for (const auto& [before, after] :
         {std::pair{0, 7}, std::pair{3, 13}, std::pair{16, 0}, std::pair{5, 3}}) {
      for (int threads : {1, 2, 3}) {
        Device device(threads);
        const Shape parent_shape{out_shape.n, out_shape.h, out_shape.w, before + shape.c + after};
        const Tensor parent = sentinel_tensor(parent_shape, dtype);
        upsample_nearest2x(device, in, parent.channel_slice(before, shape.c));
        const std::string where = detail::concat(shape_name(shape), " slice ", before, "+", shape.c,
                                                 "+", after, " threads=", threads);
        EXPECT_EQ(to_nhwc(parent.channel_slice(before, shape.c)), expected) << where;
        EXPECT_TRUE(only_slice_written(parent, before, shape.c)) << where;
      }
    }
  }
}

// Into whole tensors: a TILE output (its padding zeroed over whatever was there) and a
// ROW_MAJOR one.
TEST_P(UpsampleIntoTest, IntoWholeTensors) {
  const auto [kind, dtype] = GetParam();
  for (const Shape& shape : kShapes) {
    const auto data = rounded(random_vector(size_t(shape.elements()), 63), dtype);
    const auto expected = reference::upsample_nearest2x(data, shape);
    const Tensor in = make_input(data, shape, kind, dtype);
    const Shape out_shape{shape.n, 2 * shape.h, 2 * shape.w, shape.c};
    Device device(2);
    const Tensor tile = sentinel_tensor(out_shape, dtype);
    upsample_nearest2x(device, in, tile);
    EXPECT_EQ(to_nhwc(tile), expected) << shape_name(shape);
    EXPECT_TRUE(tile_output_ok(tile)) << shape_name(shape);
    const Tensor row_major = make_host_tensor({out_shape, dtype, Layout::ROW_MAJOR, {}});
    upsample_nearest2x(device, in, row_major);
    EXPECT_EQ(to_nhwc(row_major), expected) << shape_name(shape);
  }
}

INSTANTIATE_TEST_SUITE_P(KindsAndDtypes, UpsampleIntoTest,
                         ::testing::Combine(::testing::Values(Kind::kTile, Kind::kRowMajor,
                                                              Kind::kSlice),
                                            ::testing::ValuesIn(kDtypes)),
                         [](const auto& info) {
                           return kind_name(std::get<0>(info.param)) + "_" +
                                  dtype_name(std::get<1>(info.param));
                         });

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
    ASSERT_EQ(recorder.records.size(), 1u);
    const OpRecord& r = recorder.records[0];
    EXPECT_EQ(r.op, "upsample_nearest2x");
    EXPECT_EQ(r.path, "neek.upsample1");
    EXPECT_EQ(r.input, shape);
    EXPECT_EQ(r.output, (Shape{1, 4, 6, 20}));
    EXPECT_EQ(r.dtype, dtype);
    EXPECT_EQ(r.cores, 3);  // 4 output rows over 3 cores
    EXPECT_EQ(r.flops, 0);
    const double element = dtype == DataType::BFLOAT16 ? 2 : 4;
    EXPECT_EQ(r.bytes, element * (6 * 20 + 24 * 20));
  }
}

TEST(UpsampleErrorTest, RejectsBadInputs) {
  Device device(2);
  Tensor gone = make_host_tensor({{1, 4, 4, 8}, DataType::FLOAT32, Layout::TILE, {}});
  deallocate(gone);
  expect_error([&] { upsample_nearest2x(device, gone); },
               "upsample_nearest2x: input is not allocated");
  const Tensor in = make_host_tensor({{1, 4, 4, 8}, DataType::FLOAT32, Layout::TILE, {}});
  const Tensor out_bf16 = make_host_tensor({{1, 8, 8, 8}, DataType::BFLOAT16, Layout::TILE, {}});
  expect_error([&] { upsample_nearest2x(device, in, out_bf16); },
               "upsample_nearest2x: output [1, 8, 8, 8] bfloat16, expected [1, 8, 8, 8] float32");
  const Tensor out_small = make_host_tensor({{1, 8, 7, 8}, DataType::FLOAT32, Layout::TILE, {}});
  expect_error([&] { upsample_nearest2x(device, in, out_small); },
               "upsample_nearest2x: output [1, 8, 7, 8] float32, expected [1, 8, 8, 8] float32");
  const Tensor wide = make_host_tensor({{1, 8, 8, 16}, DataType::FLOAT32, Layout::TILE, {}});
  expect_error([&] { upsample_nearest2x(device, in, wide.channel_slice(0, 9)); },
               "upsample_nearest2x: output [1, 8, 8, 9] float32, expected [1, 8, 8, 8]");
  Tensor out_gone = make_host_tensor({{1, 8, 8, 8}, DataType::FLOAT32, Layout::TILE, {}});
  deallocate(out_gone);
  expect_error([&] { upsample_nearest2x(device, in, out_gone); },
               "upsample_nearest2x: output is not allocated");
  EXPECT_EQ(device.current_bytes(), 0u);
}

}  // namespace
}  // namespace yolo4
