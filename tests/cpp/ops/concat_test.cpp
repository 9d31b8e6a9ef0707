// concat along channels against the naive reference, every element compared exactly, on
// inputs of mixed channel counts and layouts (TILE, ROW_MAJOR, channel slices).
#include "yolo4/ops/concat.h"

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

struct Part {
  int c;
  Kind kind;
};

const std::vector<std::vector<Part>> kPartLists = {
    {{3, Kind::kTile}},
    {{1, Kind::kRowMajor}, {17, Kind::kSlice}, {255, Kind::kTile}, {3, Kind::kRowMajor}},
    {{16, Kind::kTile}, {16, Kind::kRowMajor}, {16, Kind::kSlice}},
    {{255, Kind::kSlice}, {1, Kind::kTile}},
    {{1, Kind::kSlice}, {1, Kind::kSlice}, {1, Kind::kRowMajor}},
    {{32, Kind::kTile}, {32, Kind::kTile}, {32, Kind::kTile}, {32, Kind::kTile}},  // SPP-like
};

const Shape kPixelShapes[] = {{1, 1, 1, 0}, {2, 5, 3, 0}, {1, 13, 13, 0}, {1, 7, 1, 0}};

std::string parts_name(const std::vector<Part>& parts) {
  std::string name;
  for (const Part& p : parts) name += std::to_string(p.c) + kind_name(p.kind) + " ";
  return name;
}

const DataType kDtypes[] = {DataType::FLOAT32, DataType::BFLOAT16};

// Element copies in either dtype: bfloat16 inputs compare against the reference on the rounded
// data, bit for bit.
class ConcatTest : public ::testing::TestWithParam<std::tuple<int, DataType>> {};

TEST_P(ConcatTest, MatchesReference) {
  const auto [threads, dtype] = GetParam();
  for (const auto& parts : kPartLists) {
    for (const Shape& pixels : kPixelShapes) {
      std::vector<std::vector<float>> data;
      std::vector<Shape> shapes;
      std::vector<Tensor> inputs;
      for (const Part& part : parts) {
        shapes.push_back({pixels.n, pixels.h, pixels.w, part.c});
        data.push_back(rounded(
            random_vector(size_t(shapes.back().elements()), uint32_t(70 + data.size())), dtype));
        inputs.push_back(make_input(data.back(), shapes.back(), part.kind, dtype));
      }
      const auto expected = reference::concat_channels(data, shapes);
      Device device(threads);
      const Tensor out = run_in_poisoned_arena(device, [&] { return concat(device, inputs); });
      int total = 0;
      for (const Part& part : parts) total += part.c;
      ASSERT_EQ(out.shape(), (Shape{pixels.n, pixels.h, pixels.w, total}));
      ASSERT_EQ(out.dtype(), dtype);
      EXPECT_EQ(to_nhwc(out), expected) << parts_name(parts) << shape_name(out.shape());
      EXPECT_TRUE(tile_output_ok(out)) << parts_name(parts) << shape_name(out.shape());
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ThreadsAndDtypes, ConcatTest,
                         ::testing::Combine(::testing::Values(1, 2, 3),
                                            ::testing::ValuesIn(kDtypes)),
                         [](const auto& info) {
                           return detail::concat("threads", std::get<0>(info.param), "_",
                                                 dtype_name(std::get<1>(info.param)));
                         });

TEST(ConcatProfileTest, ReportsTheOp) {
  for (DataType dtype : kDtypes) {
    Device device(2);
    Recorder recorder;
    device.set_observer(&recorder);
    auto make = [&](Shape s) { return make_host_tensor({s, dtype, Layout::TILE, {}}); };
    const Tensor inputs[] = {make({1, 3, 2, 5}), make({1, 3, 2, 7})};
    concat(device, inputs);
    ASSERT_EQ(recorder.records.size(), 1u);
    const OpRecord& r = recorder.records[0];
    EXPECT_EQ(r.op, "concat");
    EXPECT_EQ(r.input, (Shape{1, 3, 2, 5}));
    EXPECT_EQ(r.output, (Shape{1, 3, 2, 12}));
    EXPECT_EQ(r.dtype, dtype);
    EXPECT_EQ(r.cores, 2);
    EXPECT_EQ(r.flops, 0);
    const double element = dtype == DataType::BFLOAT16 ? 2 : 4;
    EXPECT_EQ(r.bytes, 2 * element * 6 * 12);
  }
}

TEST(ConcatErrorTest, RejectsBadInputs) {
  Device device(2);
  auto make = [](Shape s) { return make_host_tensor({s, DataType::FLOAT32, Layout::TILE, {}}); };
  const Tensor a = make({1, 4, 4, 8});
  expect_error([&] { concat(device, {}); }, "concat: no inputs");
  const Tensor batch[] = {a, make({2, 4, 4, 8})};
  expect_error([&] { concat(device, batch); },
               "concat: input 1 has shape [2, 4, 4, 8], expected N, H, W of input 0: [1, 4, 4, *]");
  const Tensor height[] = {a, a, make({1, 5, 4, 8})};
  expect_error([&] { concat(device, height); }, "concat: input 2 has shape [1, 5, 4, 8]");
  const Tensor width[] = {a, make({1, 4, 3, 8})};
  expect_error([&] { concat(device, width); }, "concat: input 1 has shape [1, 4, 3, 8]");
  Tensor gone = a;
  deallocate(gone);
  const Tensor with_gone[] = {a, gone};
  expect_error([&] { concat(device, with_gone); }, "concat: input 1 is not allocated");
  // Inputs must share a dtype; the first one sets it.
  const Tensor bf16 = make_host_tensor({{1, 4, 4, 8}, DataType::BFLOAT16, Layout::TILE, {}});
  const Tensor with_bf16[] = {a, bf16};
  expect_error([&] { concat(device, with_bf16); },
               "concat: input 1 dtype bfloat16, expected float32 (the dtype of input 0");
  const Tensor with_f32[] = {bf16, bf16, a};
  expect_error([&] { concat(device, with_f32); },
               "concat: input 2 dtype float32, expected bfloat16 (the dtype of input 0");
  EXPECT_EQ(device.current_bytes(), 0u);
}

}  // namespace
}  // namespace yolo4
