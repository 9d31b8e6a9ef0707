// grouped_conv2d: depthwise and grouped convs on every ISA this CPU has, against the naive
// reference on awkward shapes, in every precision mode and with every fused activation.
#include "yolo4/ops/grouped_conv2d.h"

#include <gtest/gtest.h>

#include "op_test_util.h"
#include "test_util.h"
#include "yolo4/core/error.h"
#include "yolo4/ops/layout.h"
#include "yolo4/ops/reference.h"

namespace yolo4 {
namespace {

using namespace yolo4::testing;

struct GroupedCase {
  Shape in;
  int out_channels, kernel, stride, padding, groups;
};

std::string case_name(const GroupedCase& c) {
  return detail::concat(c.in.n, "x", c.in.h, "x", c.in.w, "x", c.in.c, "_o", c.out_channels, "_k",
                        c.kernel, "s", c.stride, "p", c.padding, "g", c.groups);
}

const GroupedCase kCases[] = {
    {{1, 7, 5, 3}, 3, 3, 1, 1, 3},       // RGB-like, depthwise
    {{1, 9, 7, 17}, 17, 3, 2, 1, 17},    // C not a multiple of 8 or 16, stride 2 on odd sizes
    {{1, 1, 1, 40}, 40, 3, 1, 1, 40},    // 1x1 image: every tap but the centre is padding
    {{1, 2, 3, 17}, 17, 5, 1, 2, 17},    // image smaller than the kernel
    {{1, 11, 13, 96}, 96, 5, 2, 2, 96},  // 5x5 stride 2
    {{2, 6, 9, 96}, 96, 3, 1, 1, 96},    // batch 2, many interior pixels
    {{1, 8, 7, 24}, 24, 7, 1, 3, 24},    // any odd kernel
    {{1, 10, 11, 24}, 24, 3, 3, 0, 24},  // stride 3, no padding
    {{1, 9, 8, 32}, 32, 5, 2, 4, 32},    // padding kernel - 1
    {{2, 5, 6, 40}, 40, 5, 1, 2, 20},    // groups = C / 2: two input channels per output
    {{1, 6, 9, 96}, 96, 3, 2, 1, 48},    // groups = C / 2, stride 2
    {{1, 13, 9, 40}, 80, 3, 1, 1, 40},   // depth multiplier 2
    {{1, 5, 5, 40}, 20, 3, 1, 1, 4},     // 10 input, 5 output channels per group
};

struct Mode {
  MathFidelity fidelity;
  DataType dtype, weights_dtype;
};

std::string mode_name(const Mode& m) {
  return std::string(to_string(m.fidelity)) + "_" + dtype_name(m.dtype) + "_" +
         dtype_name(m.weights_dtype);
}

const Mode kModes[] = {
    {MathFidelity::HiFi4, DataType::FLOAT32, DataType::FLOAT32},
    {MathFidelity::HiFi4, DataType::BFLOAT16, DataType::BFLOAT16},
    {MathFidelity::HiFi4, DataType::FLOAT32, DataType::BFLOAT8_B},
    {MathFidelity::LoFi, DataType::FLOAT32, DataType::FLOAT32},
    {MathFidelity::LoFi, DataType::BFLOAT16, DataType::BFLOAT8_B},
};

float to_bf16_value(float x) {
  return to_float(to_bfloat16(x));
}

// The weights as grouped_conv2d.h documents they are stored: bfloat8_b blocks of 16
// consecutive output channels at one (tap, plane), bf16 for bfloat16 weights and LoFi.
std::vector<float> stored_weights(const std::vector<float>& w, int oc, int planes, int taps,
                                  const Mode& m) {
  std::vector<float> out = w;
  if (m.weights_dtype == DataType::BFLOAT8_B) {
    for (int tap = 0; tap < taps; ++tap)
      for (int d = 0; d < planes; ++d)
        for (int o0 = 0; o0 < oc; o0 += 16) {
          float block[16] = {};
          for (int o = o0; o < std::min(oc, o0 + 16); ++o)
            block[o - o0] = w[(size_t(o) * planes + d) * taps + tap];
          decode_bfp8(encode_bfp8(block), block);
          for (int o = o0; o < std::min(oc, o0 + 16); ++o)
            out[(size_t(o) * planes + d) * taps + tap] = block[o - o0];
        }
  }
  if (m.weights_dtype == DataType::BFLOAT16 || m.fidelity == MathFidelity::LoFi) {
    for (float& x : out) x = to_bf16_value(x);
  }
  return out;
}

// fp32 accumulation against the double reference; a bfloat16 output adds one rounding.
float rtol_for(DataType dtype) {
  return dtype == DataType::BFLOAT16 ? 8e-3f : 2e-5f;
}
constexpr float kAtol = 2e-4f;

class GroupedConv2dTest : public ::testing::TestWithParam<std::tuple<Isa, GroupedCase, Mode>> {};

TEST_P(GroupedConv2dTest, MatchesReferenceForEveryActivation) {
  const auto [isa, c, m] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const int planes = c.in.c / c.groups, taps = c.kernel * c.kernel;
  const Conv2dParams params{c.in.c, c.out_channels, c.kernel, c.stride, c.padding, c.groups};
  auto input = rounded(random_vector(size_t(c.in.elements()), 61, -2.0f, 2.0f), m.dtype);
  const auto weight = random_vector(size_t(c.out_channels) * planes * taps, 62, -0.5f, 0.5f);
  const auto bias = random_vector(size_t(c.out_channels), 63);
  auto operands = input;
  if (m.fidelity == MathFidelity::LoFi) {
    for (float& x : operands) x = to_bf16_value(x);
  }
  const auto weights = stored_weights(weight, c.out_channels, planes, taps, m);
  for (Activation activation : kFusedActivations) {
    const auto expected = reference::conv2d(operands, c.in, weights, bias, c.out_channels, c.kernel,
                                            c.stride, c.padding, activation, c.groups);
    Conv2dConfig config;
    config.activation = activation;
    config.dtype = m.dtype;
    config.weights_dtype = m.weights_dtype;
    config.math_fidelity = m.fidelity;
    const GroupedConv2d conv(params, weight, bias, config, isa);
    for (int threads : {1, 3}) {
      for (Kind kind : {Kind::kTile, Kind::kRowMajor, Kind::kSlice}) {
        Device device(threads, isa);
        Tensor in = make_input(input, c.in, kind, m.dtype);
        const Tensor out = run_in_poisoned_arena(device, [&] { return conv(device, in); });
        ASSERT_EQ(out.shape(), conv.output_shape(c.in));
        ASSERT_EQ(out.dtype(), m.dtype);
        EXPECT_TRUE(all_close(to_nhwc(out), expected, kAtol, rtol_for(m.dtype)))
            << conv.kernel_name() << " " << to_string(activation) << " threads=" << threads << " "
            << kind_name(kind);
        EXPECT_TRUE(tile_output_ok(out)) << to_string(activation) << " " << kind_name(kind);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllIsas, GroupedConv2dTest,
    ::testing::Combine(::testing::Values(Isa::kAvx512, Isa::kAvx2, Isa::kScalar),
                       ::testing::ValuesIn(kCases), ::testing::ValuesIn(kModes)),
    [](const auto& info) {
      return std::string(to_string(std::get<0>(info.param))) + "_" +
             case_name(std::get<1>(info.param)) + "_" + mode_name(std::get<2>(info.param));
    });

class GroupedConv2dFusionTest : public ::testing::TestWithParam<std::tuple<Isa, DataType>> {};

// The residual added after the activation, written into a channel slice of a wider tensor, and
// math_approx_mode's mish; with depthwise and with two channels per group.
TEST_P(GroupedConv2dFusionTest, ResidualIntoConcatSlice) {
  const auto [isa, dtype] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  for (int groups : {40, 20}) {
    for (bool approx : {false, true}) {
      const Shape in_shape{1, 7, 6, 40};
      const int planes = 40 / groups;
      const auto input = rounded(random_vector(size_t(in_shape.elements()), 71), dtype);
      const auto weight = random_vector(size_t(40) * planes * 9, 72);
      const auto bias = random_vector(40, 73);
      const Shape out_shape{1, 4, 3, 40};
      const auto residual = rounded(random_vector(size_t(out_shape.elements()), 74), dtype);
      auto expected =
          reference::conv2d(input, in_shape, weight, bias, 40, 3, 2, 1, Activation::kMish, groups);
      for (size_t i = 0; i < expected.size(); ++i) expected[i] += residual[i];

      Conv2dConfig config;
      config.activation = Activation::kMish;
      config.dtype = dtype;
      config.math_approx_mode = approx;
      const GroupedConv2d conv({40, 40, 3, 2, 1, groups}, weight, bias, config, isa);
      Device device(2, isa);
      Recorder recorder;
      device.set_observer(&recorder);
      const Tensor in = from_nhwc(input.data(), in_shape, Layout::TILE, dtype);
      const Tensor res = from_nhwc(residual.data(), out_shape, Layout::ROW_MAJOR, dtype);
      const Tensor wide = sentinel_tensor({1, 4, 3, 100}, dtype);
      const Tensor slice = wide.channel_slice(30, 40);
      conv.run(device, in, slice, &res);
      const float atol = kAtol + (approx ? kMishApproxMaxAbsError : 0.0f);
      EXPECT_TRUE(all_close(to_nhwc(slice), expected, atol, rtol_for(dtype)))
          << "groups=" << groups << " approx=" << approx;
      EXPECT_TRUE(only_slice_written(wide, 30, 40));
      ASSERT_EQ(recorder.records.size(), 1u);
      const OpRecord& r = recorder.records[0];
      EXPECT_EQ(r.op, "grouped_conv2d");
      EXPECT_EQ(r.input, in_shape);
      EXPECT_EQ(r.output, out_shape);
      EXPECT_EQ(r.dtype, dtype);
      EXPECT_EQ(r.cores, 2);
      EXPECT_DOUBLE_EQ(r.flops, 2.0 * 12 * 40 * planes * 9);
      EXPECT_DOUBLE_EQ(r.flops, conv.flops(in_shape));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllIsas, GroupedConv2dFusionTest,
    ::testing::Combine(::testing::Values(Isa::kAvx512, Isa::kAvx2, Isa::kScalar),
                       ::testing::Values(DataType::FLOAT32, DataType::BFLOAT16)),
    [](const auto& info) {
      return std::string(to_string(std::get<0>(info.param))) + "_" +
             dtype_name(std::get<1>(info.param));
    });

TEST(GroupedConv2dErrorTest, RejectsBadParams) {
  const std::vector<float> w(40 * 9), b(40);
  expect_error(
      [&] {
        GroupedConv2d({40, 40, 3, 1, 1, 3}, w, b);
      },
      "grouped_conv2d: groups=3 must divide in_channels=40 and out_channels=40");
  expect_error(
      [&] {
        GroupedConv2d({40, 30, 3, 1, 1, 20}, std::vector<float>(30 * 2 * 9), b);
      },
      "groups=20 must divide in_channels=40 and out_channels=30");
  expect_error([&] { GroupedConv2d({40, 40, 3, 1, 1, 0}, w, b); }, "groups=0");
  expect_error(
      [&] {
        GroupedConv2d({40, 40, 3, 1, 1, 40}, std::vector<float>(40 * 40 * 9), b);
      },
      "grouped_conv2d: weight has 14400 values, expected 360 (40x1x3x3)");
  expect_error(
      [&] {
        GroupedConv2d({40, 40, 3, 1, 1, 40}, w, std::vector<float>(3));
      },
      "grouped_conv2d: bias has 3 values, expected 40");
  expect_error(
      [&] {
        GroupedConv2d({40, 40, 11, 1, 1, 40}, std::vector<float>(40 * 121), b);
      },
      "grouped_conv2d: unsupported kernel=11");
  expect_error([&] { GroupedConv2d({40, 40, 3, 1, 3, 40}, w, b); }, "padding=3");
  Conv2dConfig bfp8;
  bfp8.dtype = DataType::BFLOAT8_B;
  expect_error(
      [&] {
        GroupedConv2d({40, 40, 3, 1, 1, 40}, w, b, bfp8);
      },
      "grouped_conv2d: dtype bfloat8_b is a weights format");
  Conv2dConfig winograd;
  winograd.winograd = WinogradTile::kF2x2;
  expect_error(
      [&] {
        GroupedConv2d({40, 40, 3, 1, 1, 40}, w, b, winograd);
      },
      "grouped_conv2d: winograd applies to Conv2d only");
  // Conv2d points grouped convs to GroupedConv2d.
  expect_error(
      [&] {
        Conv2d({40, 40, 3, 1, 1, 40}, w, b);
      },
      "conv2d: groups=40 is a grouped convolution: use GroupedConv2d");

  const GroupedConv2d conv({40, 40, 3, 1, 1, 40}, w, b);
  Device device(1);
  Tensor wrong_c = make_host_tensor({{1, 4, 4, 24}, DataType::FLOAT32, Layout::TILE, {}});
  expect_error([&] { conv(device, wrong_c); }, "grouped_conv2d: input [1, 4, 4, 24] has C=24");
  Tensor in = make_host_tensor({{1, 4, 4, 40}, DataType::FLOAT32, Layout::TILE, {}});
  const Tensor bf16_out = make_host_tensor({{1, 4, 4, 40}, DataType::BFLOAT16, Layout::TILE, {}});
  expect_error([&] { conv.run(device, in, bf16_out); }, "grouped_conv2d: output dtype bfloat16");
  const Tensor small = make_host_tensor({{1, 3, 4, 40}, DataType::FLOAT32, Layout::TILE, {}});
  expect_error([&] { conv.run(device, in, in, &small); }, "grouped_conv2d: residual [1, 3, 4, 40]");
  Tensor gone = in;
  deallocate(gone);
  expect_error([&] { conv(device, gone); }, "grouped_conv2d: input tensor is not allocated");
  EXPECT_EQ(device.current_bytes(), 0u);
}

}  // namespace
}  // namespace yolo4
