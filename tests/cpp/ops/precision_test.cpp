// Reduced precision: bfloat16 and bfloat8_b rounding bit-exactly against scalar definitions,
// and conv2d in every precision mode against the naive reference on the same rounded operands.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "op_test_util.h"
#include "test_util.h"
#include "yolo4/core/dtype.h"
#include "yolo4/ops/conv2d.h"
#include "yolo4/ops/conv2d_operands.h"
#include "yolo4/ops/layout.h"
#include "yolo4/ops/reference.h"

namespace yolo4 {
namespace {

using testing::all_close;
using testing::kAllWinogradTiles;
using testing::random_vector;

uint32_t bits_of(float x) {
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return b;
}

// bf16 by definition: the nearest value with 8 significant bits, ties to even, computed in
// double arithmetic rather than by bit tricks.
float bf16_by_definition(float x) {
  if (x == 0.0f || !std::isfinite(x)) return x;
  int exponent;
  std::frexp(double(x), &exponent);                      // |x| in [2^(e-1), 2^e)
  const double quantum = std::ldexp(1.0, exponent - 8);  // 8 significant bits
  return float(std::nearbyint(double(x) / quantum) * quantum);
}

TEST(Bfloat16, RoundsToNearestEvenLikeTheDefinition) {
  const auto values = random_vector(20000, 11, -1000.0f, 1000.0f);
  for (float x : values) {
    ASSERT_EQ(bits_of(to_float(to_bfloat16(x))), bits_of(bf16_by_definition(x))) << x;
  }
  // Ties: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 and goes to the even one (1).
  EXPECT_EQ(to_float(to_bfloat16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_EQ(to_float(to_bfloat16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
  EXPECT_TRUE(std::isnan(to_float(to_bfloat16(std::nanf("")))));
}

// NaNs whose payload would carry into the exponent (or the sign) when rounded stay NaN, and
// float's largest values round to infinity, value by value and through the packing's
// conversion of whole blocks (the vectorised loop).
TEST(Bfloat16, NanStaysNanAndTheLargestValuesRoundToInfinity) {
  const auto float_of = [](uint32_t bits) {
    float x;
    std::memcpy(&x, &bits, 4);
    return x;
  };
  float block[conv_operands::kKBlock];
  for (int i = 0; i < conv_operands::kKBlock; ++i) block[i] = float(i) * 0.37f - 2.0f;
  block[0] = float_of(0x7fffffffu);  // rounding would carry into the sign: -0
  block[1] = float_of(0xffffffffu);
  block[2] = float_of(0x7f80ffffu);  // the smallest exponent-all-ones payload rounding up
  block[3] = float_of(0x7f7fffffu);  // FLT_MAX rounds to +inf
  block[4] = -float_of(0x7f7fffffu);
  block[5] = INFINITY;
  uint16_t packed[conv_operands::kKBlock];
  conv_operands::convert_block(block, conv_operands::kKBlock, packed, {true, false});
  for (int i = 0; i < conv_operands::kKBlock; ++i) {
    const float value = to_float(to_bfloat16(block[i]));
    EXPECT_EQ(packed[i], to_bfloat16(block[i]).bits) << i;
    if (i < 3) {
      EXPECT_TRUE(std::isnan(value)) << std::hex << bits_of(block[i]);
    } else if (i < 6) {
      EXPECT_TRUE(std::isinf(value)) << i;
    } else {
      EXPECT_EQ(bits_of(value), bits_of(bf16_by_definition(block[i]))) << i;
    }
  }
}

// bfloat8_b by definition: shared exponent from the largest magnitude, 7-bit magnitudes
// rounded to nearest even; an overflow to 128 raises the exponent.
std::vector<float> bfp8_by_definition(const float* v) {
  double largest = 0;
  for (int i = 0; i < 16; ++i) largest = std::max(largest, std::fabs(double(v[i])));
  std::vector<float> out(16, 0.0f);
  if (largest < std::ldexp(1.0, -126)) return out;
  int exponent;
  std::frexp(largest, &exponent);  // largest in [2^(exponent-1), 2^exponent)
  for (int attempt = 0; attempt < 2; ++attempt, ++exponent) {
    const double quantum = std::ldexp(1.0, exponent - 7);  // 2^(e_biased - 133)
    bool overflow = false;
    for (int i = 0; i < 16; ++i) {
      const double m = std::nearbyint(std::fabs(double(v[i])) / quantum);
      overflow |= m >= 128;
      out[i] = float(std::copysign(m * quantum, double(v[i])));
    }
    if (!overflow) return out;
  }
  return out;
}

TEST(Bfloat8b, EncodesBitExactlyLikeTheDefinition) {
  for (int block = 0; block < 3000; ++block) {
    const float scale = std::ldexp(1.0f, block % 40 - 30);
    auto v = random_vector(16, 100 + block, -scale, scale);
    if (block % 7 == 0) v[block % 16] = 0.0f;
    if (block % 11 == 0) v[3] = scale * 0.99999f;  // near a rounding overflow
    float decoded[16];
    decode_bfp8(encode_bfp8(v.data()), decoded);
    const auto expected = bfp8_by_definition(v.data());
    for (int i = 0; i < 16; ++i) {
      ASSERT_EQ(bits_of(decoded[i]) & 0x7fffffff, bits_of(expected[i]) & 0x7fffffff)
          << "block " << block << " value " << i << ": " << v[i];
      // Every bfloat8_b value is exact in bfloat16.
      ASSERT_EQ(to_float(to_bfloat16(decoded[i])), decoded[i]);
    }
  }
  float zeros[16] = {}, out[16];
  decode_bfp8(encode_bfp8(zeros), out);
  for (float x : out) EXPECT_EQ(x, 0.0f);
}

struct PrecisionCase {
  MathFidelity fidelity;
  DataType dtype;  // activations
  DataType weights_dtype;
  bool approx = false;   // math_approx_mode
  bool compact = false;  // bfloat8_b weights resident as blocks
};

std::string precision_name(const PrecisionCase& p) {
  return std::string(to_string(p.fidelity)) + "_" + std::string(to_string(p.dtype)) + "_" +
         std::string(to_string(p.weights_dtype)) + (p.approx ? "_approx" : "") +
         (p.compact ? "_compact" : "");
}

// The weights as the conv sees them: rounded in its packed reduction order (k = tap * Cp + c,
// blocks of 16 along k for bfloat8_b), then to bf16 for LoFi products.
std::vector<float> rounded_weights(const std::vector<float>& w, int oc, int ic, int taps,
                                   const PrecisionCase& p) {
  const int per_tap = ic >= 16 ? (ic + 15) / 16 * 16 : ic;
  const int k_total = (taps * per_tap + 15) / 16 * 16;
  std::vector<float> out(w.size());
  for (int o = 0; o < oc; ++o) {
    std::vector<float> row(k_total, 0.0f);
    for (int c = 0; c < ic; ++c)
      for (int t = 0; t < taps; ++t) row[t * per_tap + c] = w[(size_t(o) * ic + c) * taps + t];
    for (int kb = 0; kb < k_total; kb += 16) {
      if (p.weights_dtype == DataType::BFLOAT8_B) {
        const auto q = bfp8_by_definition(&row[kb]);
        std::copy(q.begin(), q.end(), row.begin() + kb);
      }
    }
    for (float& x : row) {
      if (p.weights_dtype == DataType::BFLOAT16 || p.fidelity == MathFidelity::LoFi)
        x = bf16_by_definition(x);
    }
    for (int c = 0; c < ic; ++c)
      for (int t = 0; t < taps; ++t) out[(size_t(o) * ic + c) * taps + t] = row[t * per_tap + c];
  }
  return out;
}

class PrecisionConvTest
    : public ::testing::TestWithParam<std::tuple<Isa, PrecisionCase, Activation>> {};

TEST_P(PrecisionConvTest, MatchesReferenceOnRoundedOperands) {
  const auto [isa, p, activation] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  struct Case {
    Shape in;
    int oc, k, s;
  };
  for (const Case& c : {Case{{1, 7, 5, 3}, 32, 3, 1}, Case{{1, 9, 7, 40}, 20, 3, 2},
                        Case{{2, 5, 3, 600}, 33, 3, 1}, Case{{1, 4, 6, 64}, 255, 1, 1}}) {
    const int taps = c.k * c.k;
    auto input = random_vector(size_t(c.in.elements()), 21);
    const auto weight = random_vector(size_t(c.oc) * c.in.c * taps, 22, -0.2f, 0.2f);
    const auto bias = random_vector(size_t(c.oc), 23);
    const auto residual =
        random_vector(size_t(c.in.n) * ((c.in.h + 2 * (c.k / 2) - c.k) / c.s + 1) *
                          ((c.in.w + 2 * (c.k / 2) - c.k) / c.s + 1) * c.oc,
                      24);
    // The operands as stored and multiplied.
    if (p.dtype == DataType::BFLOAT16 || p.fidelity == MathFidelity::LoFi) {
      for (float& x : input) x = bf16_by_definition(x);
    }
    auto expected = reference::conv2d(input, c.in, rounded_weights(weight, c.oc, c.in.c, taps, p),
                                      bias, c.oc, c.k, c.s, c.k / 2, activation);
    for (size_t i = 0; i < expected.size(); ++i) {
      const float r = p.dtype == DataType::BFLOAT16 ? bf16_by_definition(residual[i]) : residual[i];
      expected[i] += r;
      if (p.dtype == DataType::BFLOAT16) expected[i] = bf16_by_definition(expected[i]);
    }

    Conv2dConfig config;
    config.activation = activation;
    config.dtype = p.dtype;
    config.weights_dtype = p.weights_dtype;
    config.math_fidelity = p.fidelity;
    config.math_approx_mode = p.approx;
    config.compact_weights = p.compact;
    const Conv2d conv({c.in.c, c.oc, c.k, c.s, c.k / 2}, weight, bias, config, isa);
    Device device(2, isa);
    const Tensor in = from_nhwc(input.data(), c.in, Layout::TILE, p.dtype);
    const Shape out_shape = conv.output_shape(c.in);
    const Tensor res = from_nhwc(residual.data(), out_shape, Layout::TILE, p.dtype);
    Tensor out = device.allocate({out_shape, p.dtype, Layout::TILE, {}});
    conv.run(device, in, out, &res);
    // fp32 accumulation order differs from the double reference; a bf16 output adds one
    // rounding of its own (2^-8 relative) on either side of a tie; approx mode adds the
    // approximate mish's documented absolute error.
    const float rtol = p.dtype == DataType::BFLOAT16 ? 8e-3f : 2e-5f;
    const float atol = 2e-4f + (p.approx ? kMishApproxMaxAbsError : 0.0f);
    EXPECT_TRUE(all_close(to_nhwc(out), expected, atol, rtol))
        << conv.kernel_name() << " " << to_string(c.in) << " -> " << c.oc;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllModes, PrecisionConvTest,
    ::testing::Combine(
        ::testing::Values(Isa::kAvx512, Isa::kAvx2, Isa::kScalar),
        ::testing::Values(
            PrecisionCase{MathFidelity::HiFi4, DataType::FLOAT32, DataType::BFLOAT16},
            PrecisionCase{MathFidelity::HiFi4, DataType::FLOAT32, DataType::BFLOAT8_B},
            PrecisionCase{MathFidelity::HiFi4, DataType::FLOAT32, DataType::BFLOAT8_B, false, true},
            PrecisionCase{MathFidelity::HiFi4, DataType::BFLOAT16, DataType::FLOAT32},
            PrecisionCase{MathFidelity::LoFi, DataType::FLOAT32, DataType::FLOAT32},
            PrecisionCase{MathFidelity::LoFi, DataType::BFLOAT16, DataType::BFLOAT8_B},
            PrecisionCase{MathFidelity::LoFi, DataType::BFLOAT16, DataType::BFLOAT8_B, false, true},
            PrecisionCase{MathFidelity::HiFi4, DataType::FLOAT32, DataType::FLOAT32, true},
            PrecisionCase{MathFidelity::HiFi4, DataType::BFLOAT16, DataType::FLOAT32, true},
            PrecisionCase{MathFidelity::LoFi, DataType::FLOAT32, DataType::FLOAT32, true},
            PrecisionCase{MathFidelity::LoFi, DataType::BFLOAT16, DataType::BFLOAT8_B, true}),
        ::testing::ValuesIn(testing::kFusedActivations)),
    [](const auto& info) {
      return std::string(to_string(std::get<0>(info.param))) + "_" +
             precision_name(std::get<1>(info.param)) + "_" +
             std::string(to_string(std::get<2>(info.param)));
    });

// Kernels 1..9 with strides 1..3 and paddings 0..kernel-1 on odd sizes and channel counts that
// are not multiples of 16 (narrow inputs up to 15 channels x 81 taps packed in one row), in
// every precision mode, against the naive reference on the same rounded operands.
struct GeometryCase {
  Shape in;
  int oc, k, s, pad;
};

std::string geometry_name(const GeometryCase& c) {
  return detail::concat(c.in.n, "x", c.in.h, "x", c.in.w, "x", c.in.c, "_o", c.oc, "_k", c.k, "s",
                        c.s, "p", c.pad);
}

const GeometryCase kGeometries[] = {
    {{1, 9, 7, 3}, 8, 9, 1, 4},     {{1, 11, 10, 15}, 17, 9, 2, 0}, {{1, 4, 5, 18}, 16, 9, 1, 8},
    {{1, 8, 9, 17}, 20, 7, 3, 3},   {{1, 12, 9, 32}, 48, 7, 2, 0},  {{2, 7, 6, 5}, 33, 5, 2, 2},
    {{1, 13, 11, 24}, 40, 5, 1, 0}, {{1, 9, 9, 16}, 16, 5, 3, 4},   {{1, 6, 7, 40}, 24, 2, 1, 0},
    {{1, 5, 9, 20}, 16, 2, 2, 1},   {{1, 10, 11, 33}, 18, 1, 3, 0}, {{1, 7, 5, 3}, 5, 1, 2, 0},
    {{1, 3, 3, 7}, 9, 3, 3, 2},
};

class ConvGeometryTest
    : public ::testing::TestWithParam<std::tuple<Isa, PrecisionCase, GeometryCase>> {};

TEST_P(ConvGeometryTest, MatchesReferenceOnRoundedOperands) {
  const auto [isa, p, c] = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const int taps = c.k * c.k;
  auto input = random_vector(size_t(c.in.elements()), 51);
  const auto weight = random_vector(size_t(c.oc) * c.in.c * taps, 52, -0.2f, 0.2f);
  const auto bias = random_vector(size_t(c.oc), 53);
  if (p.dtype == DataType::BFLOAT16 || p.fidelity == MathFidelity::LoFi) {
    for (float& x : input) x = bf16_by_definition(x);
  }
  const auto expected =
      reference::conv2d(input, c.in, rounded_weights(weight, c.oc, c.in.c, taps, p), bias, c.oc,
                        c.k, c.s, c.pad, Activation::kLeaky);
  Conv2dConfig config;
  config.activation = Activation::kLeaky;
  config.dtype = p.dtype;
  config.weights_dtype = p.weights_dtype;
  config.math_fidelity = p.fidelity;
  config.compact_weights = p.compact;
  const Conv2d conv({c.in.c, c.oc, c.k, c.s, c.pad}, weight, bias, config, isa);
  const Shape out_shape = conv.output_shape(c.in);
  ASSERT_EQ(out_shape, (Shape{c.in.n, (c.in.h + 2 * c.pad - c.k) / c.s + 1,
                              (c.in.w + 2 * c.pad - c.k) / c.s + 1, c.oc}));
  for (int threads : {1, 3}) {
    for (Layout layout : {Layout::TILE, Layout::ROW_MAJOR}) {
      Device device(threads, isa);
      Tensor in = from_nhwc(input.data(), c.in, layout, p.dtype);
      const Tensor out = conv(device, in);
      const float rtol = p.dtype == DataType::BFLOAT16 ? 8e-3f : 2e-5f;
      EXPECT_TRUE(all_close(to_nhwc(out), expected, 2e-4f, rtol))
          << conv.kernel_name() << " threads=" << threads << " " << to_string(layout);
      EXPECT_TRUE(testing::tile_output_ok(out));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllIsas, ConvGeometryTest,
    ::testing::Combine(
        ::testing::Values(Isa::kAvx512, Isa::kAvx2, Isa::kScalar),
        ::testing::Values(
            PrecisionCase{MathFidelity::HiFi4, DataType::FLOAT32, DataType::FLOAT32},
            PrecisionCase{MathFidelity::HiFi4, DataType::BFLOAT16, DataType::BFLOAT16},
            PrecisionCase{MathFidelity::LoFi, DataType::BFLOAT16, DataType::BFLOAT8_B},
            PrecisionCase{MathFidelity::LoFi, DataType::BFLOAT16, DataType::BFLOAT8_B, false, true},
            PrecisionCase{MathFidelity::LoFi, DataType::FLOAT32, DataType::FLOAT32}),
        ::testing::ValuesIn(kGeometries)),
    [](const auto& info) {
      return std::string(to_string(std::get<0>(info.param))) + "_" +
             precision_name(std::get<1>(info.param)) + "_" + geometry_name(std::get<2>(info.param));
    });

// VDPBF16PS (native LoFi) and its fp32-FMA emulation (lofi_exact_order) accumulate in the same
// order, so they agree far below bf16 precision, for the direct conv and for Winograd's GEMMs.
TEST(LoFiKernels, NativeAndEmulationAgree) {
  if (!cpu_features().avx512_bf16) GTEST_SKIP() << "no AVX512_BF16 on this CPU";
  for (int channels : {96, 3}) {  // 3: an RGB input's taps packed back to back, pairs across taps
    const Shape in_shape{1, 9, 11, channels};
    const auto input = random_vector(size_t(in_shape.elements()), 31);
    const auto weight = random_vector(size_t(64) * channels * 9, 32, -0.1f, 0.1f);
    const auto bias = random_vector(64, 33);
    for (WinogradTile winograd : kAllWinogradTiles) {
      if (channels < 16 && winograd != WinogradTile::kNone) continue;  // Winograd takes >= 16
      Conv2dConfig config;
      config.math_fidelity = MathFidelity::LoFi;
      config.lofi_exact_order = true;
      config.winograd = winograd;
      std::vector<std::vector<float>> outputs;
      for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar}) {
        const Conv2d conv({channels, 64, 3, 1, 1}, weight, bias, config, isa);
        Device device(1, isa);
        Tensor in = from_nhwc(input.data(), in_shape);
        outputs.push_back(to_nhwc(conv(device, in)));
      }
      EXPECT_TRUE(all_close(outputs[0], outputs[1], 1e-5f, 1e-6f))
          << "avx2, " << to_string(winograd) << ", C=" << channels;
      EXPECT_TRUE(all_close(outputs[0], outputs[2], 1e-5f, 1e-6f))
          << "scalar, " << to_string(winograd) << ", C=" << channels;
    }
  }
}

// A bfloat16 output is the float32 output rounded to nearest even, bit for bit: the same kernel
// computes the same sums either way, then stores them through its ISA's conversion (the VDPBF16PS
// kernel's own VCVTNEPS2BF16, the others' integer rounding), in the direct conv's epilogue and
// after Winograd's output transform. The input holds bf16 values, so both runs read the same.
TEST(LoFiKernels, Bf16OutputIsTheFloatOutputRounded) {
  const Shape in_shape{1, 9, 11, 48};
  auto input = random_vector(size_t(in_shape.elements()), 51, -3.0f, 3.0f);
  for (float& x : input) x = bf16_by_definition(x);
  const auto weight = random_vector(size_t(40) * in_shape.c * 9, 52, -0.2f, 0.2f);
  const auto bias = random_vector(40, 53);
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar}) {
    if (!isa_supported(isa)) continue;
    for (WinogradTile winograd : {WinogradTile::kNone, WinogradTile::kF4x4}) {
      std::vector<float> outputs[2];
      std::string kernel;
      for (DataType dtype : {DataType::FLOAT32, DataType::BFLOAT16}) {
        Conv2dConfig config;
        config.math_fidelity = MathFidelity::LoFi;
        config.weights_dtype = DataType::BFLOAT16;
        config.activation = Activation::kMishApprox;
        config.dtype = dtype;
        config.winograd = winograd;
        const Conv2d conv({in_shape.c, 40, 3, 1, 1}, weight, bias, config, isa);
        Device device(2, isa);
        const Tensor in = from_nhwc(input.data(), in_shape, Layout::TILE, dtype);
        outputs[dtype == DataType::BFLOAT16] = to_nhwc(conv(device, in));
        kernel = conv.kernel_name();
      }
      for (size_t i = 0; i < outputs[0].size(); ++i) {
        ASSERT_EQ(bits_of(outputs[1][i]), bits_of(bf16_by_definition(outputs[0][i])))
            << kernel << " " << to_string(winograd) << " output " << i << ": float "
            << outputs[0][i];
      }
    }
  }
}

// A NaN input is never lost on its way to a conv's output: every output the reference makes
// NaN is NaN, whatever the products (LoFi rounds fp32 operands to bf16 in the kernels), the
// algorithm (Winograd's transforms spread a NaN over its tile, so more outputs may be NaN) or the
// output dtype. 0x7fffffff is the NaN whose payload rounding to bf16 would carry into the sign
// (-0); arithmetic passes it on unchanged.
TEST(Bfloat16, NanInputsStayNanThroughEveryConvPath) {
  const Shape in_shape{1, 7, 9, 20};
  auto input = random_vector(size_t(in_shape.elements()), 61, -2.0f, 2.0f);
  uint32_t nan_bits = 0x7fffffffu;
  std::memcpy(&input[size_t(2 * 9 + 3) * 20 + 5], &nan_bits, 4);
  nan_bits = 0xffffffffu;
  std::memcpy(&input[size_t(5 * 9 + 7) * 20 + 17], &nan_bits, 4);
  const auto weight = random_vector(size_t(24) * in_shape.c * 9, 62, 0.05f, 0.2f);
  const auto bias = random_vector(24, 63);
  const auto expected =
      reference::conv2d(input, in_shape, weight, bias, 24, 3, 1, 1, Activation::kNone);
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar}) {
    if (!isa_supported(isa)) continue;
    for (MathFidelity fidelity : {MathFidelity::HiFi4, MathFidelity::LoFi}) {
      for (WinogradTile winograd : {WinogradTile::kNone, WinogradTile::kF4x4}) {
        for (DataType dtype : {DataType::FLOAT32, DataType::BFLOAT16}) {
          Conv2dConfig config;
          config.math_fidelity = fidelity;
          config.dtype = dtype;
          config.winograd = winograd;
          const Conv2d conv({in_shape.c, 24, 3, 1, 1}, weight, bias, config, isa);
          Device device(2, isa);
          const auto output = to_nhwc(conv(device, from_nhwc(input.data(), in_shape)));
          for (size_t i = 0; i < output.size(); ++i) {
            if (!std::isnan(expected[i])) continue;
            ASSERT_TRUE(std::isnan(output[i]))
                << conv.kernel_name() << " " << to_string(winograd) << " " << to_string(dtype)
                << " output " << i << ": 0x" << std::hex << bits_of(output[i]);
          }
        }
      }
    }
  }
}

// LoFi on CPUs without VDPBF16PS widens bf16 operands to fp32, and AMX multiplies bf16 tiles:
// the same exact products as the exact-order emulation, summed in the kernel's order. Two fp32 sums
// of the same K products differ by at most 2 (K - 1) 2^-24 sum|a w| (plus the epilogue's few
// roundings): checked per output against that bound, with sum|a w| from the reference on |a| and
// |w|. Winograd's transformed operands are identical in both too; its outputs are checked at 1e-5.
TEST(LoFiKernels, WidenedAgreesWithTheExactOrderWithinTheSummationBound) {
  const Shape in_shape{2, 7, 9, 83};
  const int oc = 37, k_total = 9 * 83;
  const auto input = random_vector(size_t(in_shape.elements()), 41);
  const auto weight = random_vector(size_t(oc) * in_shape.c * 9, 42, -0.1f, 0.1f);
  const auto bias = random_vector(oc, 43);
  std::vector<float> abs_input(input.size()), abs_weight(weight.size());
  for (size_t i = 0; i < input.size(); ++i) abs_input[i] = std::fabs(bf16_by_definition(input[i]));
  for (size_t i = 0; i < weight.size(); ++i)
    abs_weight[i] = std::fabs(bf16_by_definition(weight[i]));
  const auto abs_sums =
      reference::conv2d(abs_input, in_shape, abs_weight, std::vector<float>(oc, 0.0f), oc, 3, 1, 1,
                        Activation::kNone);
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar}) {
    if (!isa_supported(isa)) continue;
    for (WinogradTile winograd : kAllWinogradTiles) {
      std::vector<float> outputs[2];
      for (bool exact : {false, true}) {
        Conv2dConfig config;
        config.math_fidelity = MathFidelity::LoFi;
        config.lofi_exact_order = exact;
        config.winograd = winograd;
        const Conv2d conv({83, oc, 3, 1, 1}, weight, bias, config, isa);
        Device device(2, isa);
        Tensor in = from_nhwc(input.data(), in_shape);
        outputs[exact] = to_nhwc(conv(device, in));
      }
      if (winograd != WinogradTile::kNone) {
        // AMX sums each GEMM in its own order, which F(6x6)'s output transform (coefficients up
        // to 32) magnifies past 1e-5 (measured 1.5e-5): its Winograd outputs are bounded against
        // its direct conv's by WinogradError, and its direct conv here.
        if (kernels::amx_bf16_products(isa)) continue;
        EXPECT_TRUE(all_close(outputs[0], outputs[1], 1e-5f, 1e-5f))
            << to_string(isa) << " " << to_string(winograd);
        continue;
      }
      for (size_t i = 0; i < outputs[0].size(); ++i) {
        const double bound = 2.0 * (k_total - 1) * std::ldexp(1.0, -24) * abs_sums[i] +
                             4 * std::ldexp(1.0, -24) * std::fabs(outputs[1][i]);
        ASSERT_LE(std::fabs(double(outputs[0][i]) - outputs[1][i]), bound)
            << to_string(isa) << " output " << i;
      }
    }
  }
}

// LoFi's bf16 weights stay compressed on every ISA: half the bytes of fp32 (HiFi4) weights.
TEST(LoFiKernels, KeepWeightsInBf16) {
  const auto weight = random_vector(size_t(48) * 40 * 9, 44);
  const std::vector<float> bias(48, 0.0f);
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar}) {
    if (!isa_supported(isa)) continue;
    Conv2dConfig lofi;
    lofi.math_fidelity = MathFidelity::LoFi;
    const Conv2d hifi4_conv({40, 48, 3, 1, 1}, weight, bias, {}, isa);
    const Conv2d lofi_conv({40, 48, 3, 1, 1}, weight, bias, lofi, isa);
    EXPECT_EQ(2 * lofi_conv.weight_bytes(), hifi4_conv.weight_bytes()) << to_string(isa);
  }
}

}  // namespace
}  // namespace yolo4

namespace yolo4 {
namespace {

TEST(Bfloat8b, FastBf16DecodeIsExact) {
  for (int exponent : {1, 2, 6, 7, 100, 127, 130, 254}) {
    for (int start = 0; start < 256; start += 16) {
      BlockBfp8 block;
      block.shared_exponent = uint8_t(exponent);
      for (int i = 0; i < 16; ++i) block.values[i] = uint8_t(start + i);
      float slow[16];
      uint16_t fast[16];
      decode_bfp8(block, slow);
      decode_bfp8_bf16(block, fast);
      for (int i = 0; i < 16; ++i) {
        ASSERT_EQ(to_float(bfloat16{fast[i]}), slow[i])
            << "exponent " << exponent << " byte " << start + i;
      }
    }
  }
}

}  // namespace
}  // namespace yolo4
