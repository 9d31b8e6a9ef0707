// activation and add (with its fused activation, and into channel slices): every ISA path this
// CPU has, against the naive reference, on awkward shapes and on TILE, ROW_MAJOR and
// channel-slice inputs.
#include "yolo4/ops/eltwise.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "op_test_util.h"
#include "test_util.h"
#include "yolo4/core/error.h"
#include "yolo4/kernels/kernels.h"
#include "yolo4/ops/layout.h"
#include "yolo4/ops/reference.h"

namespace yolo4 {
namespace {

// The shared helpers of test_util.h and op_test_util.h.
using namespace yolo4::testing;

const Shape kShapes[] = {
    {1, 1, 1, 1},  {1, 1, 1, 3},   {2, 5, 3, 17},  {1, 13, 13, 255},
    {2, 3, 7, 16}, {1, 7, 13, 32}, {1, 2, 1, 255},
};

const Isa kIsas[] = {Isa::kAvx512, Isa::kAvx2, Isa::kScalar};

std::string isa_name(Isa isa) {
  return std::string(to_string(isa));
}

const DataType kDtypes[] = {DataType::FLOAT32, DataType::BFLOAT16};

// bfloat16: within one bfloat16 rounding of the reference on the rounded inputs (a half ulp,
// at most 2^-8 relative), on top of the fp32 kernels' own tolerance.
constexpr float kBf16Rtol = 1.0f / 256;

class ActivationTest
    : public ::testing::TestWithParam<std::tuple<Isa, Activation, Kind, DataType>> {};

TEST_P(ActivationTest, MatchesReference) {
  const auto [isa, act, kind, dtype] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const bool bf16 = dtype == DataType::BFLOAT16;
  for (const Shape& shape : kShapes) {
    // Wide enough that mish's exp sees large and tiny values; inputs hit the clamp at 20 too.
    auto data = rounded(random_vector(size_t(shape.elements()), 11, -25.0f, 25.0f), dtype);
    std::vector<float> expected(data.size());
    std::transform(data.begin(), data.end(), expected.begin(),
                   [&](float x) { return reference::activate(x, act); });
    const Tensor in = make_input(data, shape, kind, dtype);
    // bfloat16 is computed in fp32 and rounded once: exactly the fp32 op's output, rounded.
    std::vector<float> f32_rounded;
    if (bf16) {
      Device device(1, isa);
      f32_rounded = rounded(to_nhwc(activation(device, from_nhwc(data.data(), shape), act)), dtype);
    }
    for (int threads : {1, 2, 3}) {
      Device device(threads, isa);
      const Tensor out = run_in_poisoned_arena(device, [&] { return activation(device, in, act); });
      ASSERT_EQ(out.shape(), shape);
      ASSERT_EQ(out.dtype(), dtype);
      const float atol = 1e-5f + (act == Activation::kMishApprox ? kMishApproxMaxAbsError : 0.0f);
      EXPECT_TRUE(all_close(to_nhwc(out), expected, atol, 1e-5f + (bf16 ? kBf16Rtol : 0.0f)))
          << shape_name(shape) << " threads=" << threads;
      if (bf16) {
        EXPECT_EQ(to_nhwc(out), f32_rounded) << shape_name(shape) << " threads=" << threads;
      }
      EXPECT_TRUE(tile_output_ok(out)) << shape_name(shape) << " threads=" << threads;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllIsas, ActivationTest,
    ::testing::Combine(::testing::ValuesIn(kIsas),
                       ::testing::Values(Activation::kNone, Activation::kMish, Activation::kLeaky,
                                         Activation::kMishApprox, Activation::kLogistic,
                                         Activation::kRelu, Activation::kSwish),
                       ::testing::Values(Kind::kTile, Kind::kRowMajor, Kind::kSlice),
                       ::testing::ValuesIn(kDtypes)),
    [](const auto& info) {
      return isa_name(std::get<0>(info.param)) + "_" +
             std::string(to_string(std::get<1>(info.param))) + "_" +
             kind_name(std::get<2>(info.param)) + "_" + dtype_name(std::get<3>(info.param));
    });

class ActivationValuesTest : public ::testing::TestWithParam<Isa> {};

// Known values, including the ends of mish's range, and the convenience wrappers.
TEST_P(ActivationValuesTest, KnownValuesAndWrappers) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const std::vector<float> x = {0.0f, 1.0f, -1.0f, -2.0f, 3.0f, 20.0f, 60.0f, -60.0f, -0.5f};
  // Python: x * math.tanh(math.log1p(math.exp(x))).
  const std::vector<float> mish_expected = {0.0f,         0.86509839f,  -0.30340146f,
                                            -0.25250148f, 2.98653500f,  20.0f,
                                            60.0f,        -5.2539e-25f, -0.22074377f};
  const std::vector<float> leaky_expected = {0.0f,  1.0f,  -0.1f, -0.2f, 3.0f,
                                             20.0f, 60.0f, -6.0f, -0.05f};
  const Shape shape{1, 1, 3, 3};
  Device device(2, isa);
  const Tensor in = from_nhwc(x.data(), shape);
  EXPECT_TRUE(all_close(to_nhwc(mish(device, in)), mish_expected, 1e-6f, 1e-6f));
  EXPECT_TRUE(all_close(to_nhwc(leaky_relu(device, in)), leaky_expected, 0.0f, 1e-7f));
  EXPECT_EQ(to_nhwc(activation(device, in, Activation::kNone)), x);
}

// Position of a float on the number line in ulps (+0 and -0 both at 0).
int64_t ulp_position(float x) {
  int32_t bits;
  std::memcpy(&bits, &x, 4);
  return bits >= 0 ? bits : -int64_t(bits & 0x7fffffff);
}

// The vector sigmoid and swish's bound in ulps on every ISA (vec_math.h); measured 3 and 3.
constexpr int64_t kLogisticMaxUlps = 3;

// Logistic and swish against their float values (the double results rounded once) in ulps,
// over [-110, 110] every 1e-3, both ends of the denormal range of sigmoid, the points where
// the exponentials clamp, and huge magnitudes.
TEST_P(ActivationValuesTest, LogisticAndSwishWithinUlpsOfFloat) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  std::vector<float> x;
  for (int i = -110000; i <= 110000; ++i) x.push_back(float(i / 1000.0));
  for (float v : {0.0f, 1e-30f, 1e-7f, 17.3f, 17.5f, 87.3f, 88.8f, 103.9f, 104.0f, 174.6f, 174.8f,
                  176.8f, 199.0f, 201.0f, 1e4f, 1e30f, std::numeric_limits<float>::max()}) {
    x.push_back(v);
    x.push_back(-v);
  }
  const auto table = kernels::kernel_table(isa);
  for (Activation act : {Activation::kLogistic, Activation::kSwish}) {
    std::vector<float> y(x.size());
    table.f32_activation(x.data(), y.data(), int64_t(x.size()), act);
    int64_t worst = 0;
    float at = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double v = x[i];
      const float exact = float(act == Activation::kLogistic ? 1.0 / (1.0 + std::exp(-v))
                                                             : v / (1.0 + std::exp(-v)));
      const int64_t ulps = std::abs(ulp_position(y[i]) - ulp_position(exact));
      if (ulps > worst) worst = ulps, at = x[i];
    }
    RecordProperty(std::string(to_string(act)) + "_max_ulps",
                   std::to_string(worst) + " at x = " + std::to_string(at));
    EXPECT_LE(worst, kLogisticMaxUlps) << to_string(act) << " at x = " << at;
  }
}

// Exact values where float has them, and the saturations.
TEST_P(ActivationValuesTest, LogisticReluSwishKnownValues) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const std::vector<float> x = {0.0f, -3.0f, 2.5f, 30.0f, -200.0f, -1e30f, 1e30f, -0.0f, -1e-30f};
  const Shape shape{1, 1, 3, 3};
  Device device(1, isa);
  const Tensor in = from_nhwc(x.data(), shape);
  const auto logistic = to_nhwc(activation(device, in, Activation::kLogistic));
  const auto relu = to_nhwc(activation(device, in, Activation::kRelu));
  const auto swish = to_nhwc(activation(device, in, Activation::kSwish));
  // Python: 1 / (1 + math.exp(-x)) and x / (1 + math.exp(-x)).
  const std::vector<float> logistic_expected = {0.5f, 0.047425874f, 0.92414182f, 1.0f, 0.0f,
                                                0.0f, 1.0f,         0.5f,        0.5f};
  const std::vector<float> relu_expected = {0.0f, 0.0f, 2.5f, 30.0f, 0.0f, 0.0f, 1e30f, 0.0f, 0.0f};
  const std::vector<float> swish_expected = {0.0f, -0.14227761f, 2.3103545f, 30.0f,  0.0f,
                                             0.0f, 1e30f,        0.0f,       -5e-31f};
  // Within kLogisticMaxUlps (at most 2^-23 relative each) of the values rounded to float.
  EXPECT_TRUE(all_close(logistic, logistic_expected, 0.0f, 4e-7f));
  EXPECT_TRUE(all_close(relu, relu_expected, 0.0f, 0.0f));
  EXPECT_TRUE(all_close(swish, swish_expected, 0.0f, 4e-7f));
}

INSTANTIATE_TEST_SUITE_P(AllIsas, ActivationValuesTest, ::testing::ValuesIn(kIsas),
                         [](const auto& info) { return isa_name(info.param); });

class AddTest : public ::testing::TestWithParam<std::tuple<Isa, Kind, Kind, DataType>> {};

TEST_P(AddTest, MatchesReference) {
  const auto [isa, kind_a, kind_b, dtype] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  for (const Shape& shape : kShapes) {
    const auto a = rounded(random_vector(size_t(shape.elements()), 21), dtype);
    const auto b = rounded(random_vector(size_t(shape.elements()), 22), dtype);
    // bfloat16: added in fp32 (exact to one float rounding), then rounded once to bfloat16.
    std::vector<float> expected(a.size());
    for (size_t i = 0; i < a.size(); ++i) expected[i] = a[i] + b[i];
    expected = rounded(expected, dtype);
    const Tensor ta = make_input(a, shape, kind_a, dtype), tb = make_input(b, shape, kind_b, dtype);
    for (int threads : {1, 2, 3}) {
      Device device(threads, isa);
      const Tensor out = run_in_poisoned_arena(device, [&] { return add(device, ta, tb); });
      ASSERT_EQ(out.shape(), shape);
      ASSERT_EQ(out.dtype(), dtype);
      // Float addition is exact to the rounding of a single add: compare bit for bit.
      EXPECT_EQ(to_nhwc(out), expected) << shape_name(shape) << " threads=" << threads;
      EXPECT_TRUE(tile_output_ok(out)) << shape_name(shape) << " threads=" << threads;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllIsas, AddTest,
    ::testing::Combine(::testing::ValuesIn(kIsas),
                       ::testing::Values(Kind::kTile, Kind::kRowMajor, Kind::kSlice),
                       ::testing::Values(Kind::kTile, Kind::kRowMajor, Kind::kSlice),
                       ::testing::ValuesIn(kDtypes)),
    [](const auto& info) {
      return isa_name(std::get<0>(info.param)) + "_" + kind_name(std::get<1>(info.param)) + "_" +
             kind_name(std::get<2>(info.param)) + "_" + dtype_name(std::get<3>(info.param));
    });

const Activation kActivations[] = {Activation::kNone, Activation::kMish, Activation::kLeaky,
                                   Activation::kMishApprox};

// The tolerance of the fp32 kernels' activation against the reference (bfloat16 adds one
// rounding); kNone and the add itself are exact.
::testing::AssertionResult activated_close(const std::vector<float>& actual,
                                           const std::vector<float>& expected, Activation act,
                                           DataType dtype) {
  const float atol = 1e-5f + (act == Activation::kMishApprox ? kMishApproxMaxAbsError : 0.0f);
  const float rtol = 1e-5f + (dtype == DataType::BFLOAT16 ? kBf16Rtol : 0.0f);
  if (act == Activation::kNone) {
    return actual == expected ? ::testing::AssertionSuccess()
                              : ::testing::AssertionFailure() << "differs from the exact sum";
  }
  return all_close(actual, expected, atol, rtol);
}

// activation(a + b) for the values of a and b: the add in fp32 (and rounded to bfloat16 when
// the activation is none), then the reference activation.
std::vector<float> expected_sum(const std::vector<float>& a, const std::vector<float>& b,
                                Activation act, DataType dtype) {
  std::vector<float> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = reference::activate(a[i] + b[i], act);
  return act == Activation::kNone ? rounded(out, dtype) : out;
}

// darknet's [shortcut] with an activation: out = activation(a + b), across input kinds.
class AddActivationTest : public ::testing::TestWithParam<std::tuple<Isa, Activation, DataType>> {};

TEST_P(AddActivationTest, MatchesReference) {
  const auto [isa, act, dtype] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const std::pair<Kind, Kind> kinds[] = {
      {Kind::kTile, Kind::kTile}, {Kind::kRowMajor, Kind::kSlice}, {Kind::kSlice, Kind::kTile}};
  for (const Shape& shape : kShapes) {
    // Sums reach mish's clamp at 20 and its tiny negative tail.
    const auto a = rounded(random_vector(size_t(shape.elements()), 25, -15.0f, 15.0f), dtype);
    const auto b = rounded(random_vector(size_t(shape.elements()), 26, -15.0f, 15.0f), dtype);
    const auto expected = expected_sum(a, b, act, dtype);
    // bfloat16: computed in fp32 and rounded once, exactly the fp32 op's output rounded.
    std::vector<float> f32_rounded;
    if (dtype == DataType::BFLOAT16) {
      Device device(1, isa);
      f32_rounded = rounded(
          to_nhwc(add(device, from_nhwc(a.data(), shape), from_nhwc(b.data(), shape), act)), dtype);
    }
    for (const auto& [kind_a, kind_b] : kinds) {
      const Tensor ta = make_input(a, shape, kind_a, dtype);
      const Tensor tb = make_input(b, shape, kind_b, dtype);
      for (int threads : {1, 3}) {
        Device device(threads, isa);
        const Tensor out = run_in_poisoned_arena(device, [&] { return add(device, ta, tb, act); });
        const std::string where = detail::concat(shape_name(shape), " ", kind_name(kind_a), "+",
                                                 kind_name(kind_b), " threads=", threads);
        ASSERT_EQ(out.shape(), shape);
        ASSERT_EQ(out.dtype(), dtype);
        EXPECT_TRUE(activated_close(to_nhwc(out), expected, act, dtype)) << where;
        if (dtype == DataType::BFLOAT16) {
          EXPECT_EQ(to_nhwc(out), f32_rounded) << where;
        }
        EXPECT_TRUE(tile_output_ok(out)) << where;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, AddActivationTest,
                         ::testing::Combine(::testing::ValuesIn(kIsas),
                                            ::testing::ValuesIn(kActivations),
                                            ::testing::ValuesIn(kDtypes)),
                         [](const auto& info) {
                           return isa_name(std::get<0>(info.param)) + "_" +
                                  std::string(to_string(std::get<1>(info.param))) + "_" +
                                  dtype_name(std::get<2>(info.param));
                         });

// add into an existing tensor: a channel slice of a wider one (every other channel of the
// parent, its padding too, keeps its value), a whole TILE tensor (its padding zeroed over
// whatever was there), a ROW_MAJOR one, and in place into an input.
class AddIntoTest : public ::testing::TestWithParam<std::tuple<Isa, DataType>> {};

TEST_P(AddIntoTest, WritesOnlyItsOutput) {
  const auto [isa, dtype] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  for (const Shape& shape : kShapes) {
    const auto a = rounded(random_vector(size_t(shape.elements()), 27, -3.0f, 3.0f), dtype);
    const auto b = rounded(random_vector(size_t(shape.elements()), 28, -3.0f, 3.0f), dtype);
    for (Activation act : {Activation::kNone, Activation::kLeaky}) {
      const auto expected = expected_sum(a, b, act, dtype);
      const Tensor ta = make_input(a, shape, Kind::kTile, dtype);
      const Tensor tb = make_input(b, shape, Kind::kSlice, dtype);
      for (const auto& [before, after] : {std::pair{0, 7}, std::pair{3, 13}, std::pair{16, 0}}) {
        for (int threads : {1, 3}) {
          Device device(threads, isa);
          const Tensor parent =
              sentinel_tensor({shape.n, shape.h, shape.w, before + shape.c + after}, dtype);
          add(device, ta, tb, parent.channel_slice(before, shape.c), act);
          const std::string where =
              detail::concat(shape_name(shape), " ", to_string(act), " slice ", before, "+",
                             shape.c, "+", after, " threads=", threads);
          EXPECT_TRUE(
              activated_close(to_nhwc(parent.channel_slice(before, shape.c)), expected, act, dtype))
              << where;
          EXPECT_TRUE(only_slice_written(parent, before, shape.c)) << where;
        }
      }
      const std::string where = detail::concat(shape_name(shape), " ", to_string(act));
      Device device(2, isa);
      const Tensor tile = sentinel_tensor(shape, dtype);
      add(device, ta, tb, tile, act);
      EXPECT_TRUE(activated_close(to_nhwc(tile), expected, act, dtype)) << where;
      EXPECT_TRUE(tile_output_ok(tile)) << where;
      const Tensor row_major = make_host_tensor({shape, dtype, Layout::ROW_MAJOR, {}});
      add(device, ta, tb, row_major, act);
      EXPECT_TRUE(activated_close(to_nhwc(row_major), expected, act, dtype)) << where;
      // In place: the output is input a itself, a TILE tensor or a slice.
      for (Kind kind : {Kind::kTile, Kind::kSlice}) {
        const Tensor x = make_input(a, shape, kind, dtype);
        add(device, x, tb, x, act);
        EXPECT_TRUE(activated_close(to_nhwc(x), expected, act, dtype))
            << where << " in place " << kind_name(kind);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, AddIntoTest,
                         ::testing::Combine(::testing::ValuesIn(kIsas),
                                            ::testing::ValuesIn(kDtypes)),
                         [](const auto& info) {
                           return isa_name(std::get<0>(info.param)) + "_" +
                                  dtype_name(std::get<1>(info.param));
                         });

// Inputs long enough for the bfloat16 path's fp32 scratch blocks to split a pixel row (and a
// row shard) at awkward places: every element still rounded once.
TEST(EltwiseBf16Test, LongRowsAcrossScratchBlocks) {
  const Shape shape{1, 3, 37, 29};  // 1073 values per row: not a multiple of any block
  const auto a =
      rounded(random_vector(size_t(shape.elements()), 23, -30.0f, 30.0f), DataType::BFLOAT16);
  const auto b = rounded(random_vector(size_t(shape.elements()), 24), DataType::BFLOAT16);
  for (Layout layout : {Layout::TILE, Layout::ROW_MAJOR}) {
    Device device(2);
    const Tensor ta = from_nhwc(a.data(), shape, layout, DataType::BFLOAT16);
    const Tensor tb = from_nhwc(b.data(), shape, layout, DataType::BFLOAT16);
    std::vector<float> sum(a.size());
    for (size_t i = 0; i < a.size(); ++i) sum[i] = a[i] + b[i];
    EXPECT_EQ(to_nhwc(add(device, ta, tb)), rounded(sum, DataType::BFLOAT16));
    const auto f32_mish = to_nhwc(mish(device, from_nhwc(a.data(), shape, layout)));
    EXPECT_EQ(to_nhwc(mish(device, ta)), rounded(f32_mish, DataType::BFLOAT16));
  }
}

TEST(EltwiseProfileTest, ReportsTheOps) {
  for (DataType dtype : kDtypes) {
    Device device(2);
    Recorder recorder;
    device.set_observer(&recorder);
    const Shape shape{1, 3, 4, 10};
    const Tensor x = make_host_tensor({shape, dtype, Layout::TILE, {}});
    leaky_relu(device, x);
    add(device, x, x);
    add(device, x, x, Activation::kLeaky);
    ASSERT_EQ(recorder.records.size(), 3u);
    // The fused activation: one more FLOP per element, no more bytes.
    EXPECT_EQ(recorder.records[2].op, "add");
    EXPECT_EQ(recorder.records[2].flops, 240);
    EXPECT_EQ(recorder.records[2].bytes, recorder.records[1].bytes);
    const double element = dtype == DataType::BFLOAT16 ? 2 : 4;
    const char* ops[] = {"activation", "add"};
    for (int i = 0; i < 2; ++i) {
      const OpRecord& r = recorder.records[i];
      EXPECT_EQ(r.op, ops[i]);
      EXPECT_EQ(r.input, shape);
      EXPECT_EQ(r.output, shape);
      EXPECT_EQ(r.dtype, dtype);
      EXPECT_EQ(r.cores, 2);
      EXPECT_EQ(r.flops, 120);  // one per element
      EXPECT_EQ(r.bytes, element * 120 * (i == 0 ? 2 : 3));
    }
  }
}

TEST(ActivationNamesTest, ParsesDarknetNames) {
  EXPECT_EQ(parse_darknet_activation("linear"), Activation::kNone);
  EXPECT_EQ(parse_darknet_activation("leaky"), Activation::kLeaky);
  EXPECT_EQ(parse_darknet_activation("mish"), Activation::kMish);
  EXPECT_EQ(parse_darknet_activation("logistic"), Activation::kLogistic);
  EXPECT_EQ(parse_darknet_activation("relu"), Activation::kRelu);
  EXPECT_EQ(parse_darknet_activation("swish"), Activation::kSwish);
  for (Activation a : {Activation::kLogistic, Activation::kRelu, Activation::kSwish}) {
    EXPECT_EQ(parse_darknet_activation(to_string(a)), a);
  }
  expect_error([] { parse_darknet_activation("elu"); },
               "unsupported darknet activation 'elu': expected one of linear, leaky, mish, "
               "logistic, relu, swish");
  expect_error([] { parse_darknet_activation("Leaky"); }, "'Leaky'");
  expect_error([] { parse_darknet_activation(""); }, "''");
}

TEST(EltwiseErrorTest, RejectsBadInputs) {
  Device device(2);
  const Tensor a = make_host_tensor({{1, 4, 4, 8}, DataType::FLOAT32, Layout::TILE, {}});
  const Tensor wide = make_host_tensor({{1, 4, 4, 9}, DataType::FLOAT32, Layout::TILE, {}});
  const Tensor tall = make_host_tensor({{1, 5, 4, 8}, DataType::FLOAT32, Layout::TILE, {}});
  const Tensor batch = make_host_tensor({{2, 4, 4, 8}, DataType::FLOAT32, Layout::TILE, {}});
  expect_error([&] { add(device, a, wide); }, "add: input b has shape [1, 4, 4, 9]");
  expect_error([&] { add(device, a, tall); }, "expected the shape of input a [1, 4, 4, 8]");
  expect_error([&] { add(device, batch, a); }, "add: input b has shape [1, 4, 4, 8]");

  Tensor gone = a;
  deallocate(gone);
  expect_error([&] { activation(device, gone, Activation::kMish); },
               "activation: input is not allocated");
  expect_error([&] { add(device, gone, a); }, "add: input a is not allocated");
  expect_error([&] { add(device, a, gone); }, "add: input b is not allocated");

  // Inputs of an add must share a dtype.
  const Tensor bf16 = make_host_tensor({{1, 4, 4, 8}, DataType::BFLOAT16, Layout::TILE, {}});
  expect_error([&] { add(device, a, bf16); },
               "add: input b dtype bfloat16, expected float32 (the dtype of input a");
  expect_error([&] { add(device, bf16, a); },
               "add: input b dtype float32, expected bfloat16 (the dtype of input a");
  // The into-overload checks its output.
  const Tensor out_bf16 = make_host_tensor({{1, 4, 4, 8}, DataType::BFLOAT16, Layout::TILE, {}});
  expect_error([&] { add(device, a, a, out_bf16); },
               "add: output [1, 4, 4, 8] bfloat16, expected the inputs' [1, 4, 4, 8] float32");
  expect_error([&] { add(device, a, a, wide, Activation::kLeaky); },
               "add: output [1, 4, 4, 9] float32, expected the inputs' [1, 4, 4, 8] float32");
  expect_error([&] { add(device, a, a, wide.channel_slice(1, 8).channel_slice(0, 7)); },
               "add: output [1, 4, 4, 7] float32");
  expect_error([&] { add(device, a, a, gone); }, "add: output is not allocated");
  expect_error([&] { add(device, gone, a, a); }, "add: input a is not allocated");
  // A failed op allocates nothing.
  EXPECT_EQ(device.current_bytes(), 0u);
}

}  // namespace
}  // namespace yolo4
