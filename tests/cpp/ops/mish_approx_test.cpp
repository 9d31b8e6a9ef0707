// Mish against mish in double on every ISA: the exact one (a few ulp) and math_approx_mode's
// approximate one (its documented bounds); what approx mode changes in conv2d (mish) and what it
// leaves bit-identical (leaky, none). Conv2d in approx
// mode against the naive reference: precision_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <vector>

#include "test_util.h"
#include "yolo4/core/activation.h"
#include "yolo4/kernels/kernels.h"
#include "yolo4/kernels/vec_math.h"
#include "yolo4/ops/conv2d.h"
#include "yolo4/ops/layout.h"

namespace yolo4 {
namespace {

using testing::random_vector;

const Isa kIsas[] = {Isa::kAvx512, Isa::kAvx2, Isa::kScalar};

std::string isa_name(const ::testing::TestParamInfo<Isa>& info) {
  return std::string(to_string(info.param));
}

double mish_in_double(double x) {
  return x * std::tanh(std::log1p(std::exp(x)));
}

// Every 1e-3 over [-100, 100], then signed zeros, tiny and huge magnitudes, and both sides of
// the exp clamp (kExpMin) and of where t / (t + 2) becomes 1 (about 8.7, and kMishSaturation).
std::vector<float> sweep() {
  std::vector<float> x;
  for (int i = -100000; i <= 100000; ++i) x.push_back(float(i / 1000.0));
  constexpr float kMax = std::numeric_limits<float>::max();
  for (float v : {0.0f, std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(),
                  1e-30f, 1e-7f, 8.66f, 8.7f, 9.0f, 1e3f, 1e4f, 1e30f, kMax}) {
    x.push_back(v);
    x.push_back(-v);
  }
  for (float edge : {kernels::kExpMin, kernels::kMishSaturation}) {
    x.push_back(std::nextafter(edge, -kMax));
    x.push_back(edge);
    x.push_back(std::nextafter(edge, kMax));
  }
  return x;
}

std::vector<float> activated(Isa isa, const std::vector<float>& x, Activation activation) {
  std::vector<float> y(x.size());
  kernels::kernel_table(isa).f32_activation(x.data(), y.data(), int64_t(x.size()), activation);
  return y;
}

std::vector<float> mish_approx(Isa isa, const std::vector<float>& x) {
  return activated(isa, x, Activation::kMishApprox);
}

std::string scientific(double value) {
  std::ostringstream s;
  s.precision(3);
  s << std::scientific << value;
  return s.str();
}

class MishApproxTest : public ::testing::TestWithParam<Isa> {};

// The bounds documented in activation.h and vec_math.h hold; the measured maxima are recorded
// as test properties (--gtest_output=xml).
TEST_P(MishApproxTest, WithinDocumentedErrorOfMish) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const std::vector<float> x = sweep();
  const std::vector<float> y = mish_approx(isa, x);
  double max_abs = 0, max_rel = 0;
  float at_abs = 0, at_rel = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double exact = mish_in_double(x[i]);
    const double abs = std::fabs(y[i] - exact);
    const double rel = abs / std::max(std::fabs(exact), double(kMishApproxRelFloor));
    ASSERT_TRUE(std::isfinite(y[i])) << "x = " << x[i];
    if (abs > max_abs) max_abs = abs, at_abs = x[i];
    if (rel > max_rel) max_rel = rel, at_rel = x[i];
  }
  RecordProperty("max_abs_error", scientific(max_abs) + " at x = " + std::to_string(at_abs));
  RecordProperty("max_rel_error", scientific(max_rel) + " at x = " + std::to_string(at_rel));
  EXPECT_LE(max_abs, kMishApproxMaxAbsError) << "at x = " << at_abs;
  EXPECT_LE(max_rel, kMishApproxMaxRelError) << "at x = " << at_rel;
}

// The exact mish (vexp and a division)
// stays within kExactMishMaxRelError of mish in double wherever e^x and the result are normal
// floats, and keeps the approximate mish's absolute bound everywhere.
constexpr double kExactMishMaxRelError = 4e-7;  // measured 2.7e-7 on every ISA
TEST_P(MishApproxTest, ExactMishWithinFewUlp) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const std::vector<float> x = sweep();
  const std::vector<float> y = activated(isa, x, Activation::kMish);
  double max_rel = 0;
  float at_rel = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double exact = mish_in_double(x[i]);
    ASSERT_LE(std::fabs(y[i] - exact), kMishApproxMaxAbsError) << "x = " << x[i];
    // Denormal results carry fewer bits than any relative bound.
    if (!(x[i] >= kernels::kExpMin) || std::fabs(exact) < std::numeric_limits<float>::min()) {
      continue;
    }
    const double rel = std::fabs(y[i] - exact) / std::fabs(exact);
    if (rel > max_rel) max_rel = rel, at_rel = x[i];
  }
  RecordProperty("max_rel_error", scientific(max_rel) + " at x = " + std::to_string(at_rel));
  EXPECT_LE(max_rel, kExactMishMaxRelError) << "at x = " << at_rel;
}

// Zeros keep their sign (TILE padding stays +0), NaN stays NaN, and past kMishSaturation the
// result is x exactly.
TEST_P(MishApproxTest, SignsNaNAndSaturation) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const std::vector<float> x = {0.0f, -0.0f, std::numeric_limits<float>::quiet_NaN(), 20.0f, 21.5f,
                                1e4f, 1e30f, std::numeric_limits<float>::max()};
  const std::vector<float> y = mish_approx(isa, x);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_FALSE(std::signbit(y[0]));
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_TRUE(std::signbit(y[1]));
  EXPECT_TRUE(std::isnan(y[2]));
  for (size_t i = 3; i < x.size(); ++i) EXPECT_EQ(y[i], x[i]);
}

INSTANTIATE_TEST_SUITE_P(AllIsas, MishApproxTest, ::testing::ValuesIn(kIsas), isa_name);

std::vector<uint32_t> bits_of(const std::vector<float>& v) {
  std::vector<uint32_t> bits(v.size());
  std::memcpy(bits.data(), v.data(), v.size() * sizeof(float));
  return bits;
}

// One conv's output, with math_approx_mode off or on; most values land in [-6, 6], where the
// approximation differs from mish in float.
std::vector<float> conv_output(Isa isa, Conv2dConfig config, bool approx) {
  const Shape in_shape{1, 6, 5, 24};
  const int oc = 40;
  const auto input = random_vector(size_t(in_shape.elements()), 41, -2.0f, 2.0f);
  const auto weight = random_vector(size_t(oc) * in_shape.c * 9, 42, -0.3f, 0.3f);
  const auto bias = random_vector(oc, 43);
  config.math_approx_mode = approx;
  const Conv2d conv({in_shape.c, oc, 3, 1, 1}, weight, bias, config, isa);
  Device device(2, isa);
  Tensor in = from_nhwc(input.data(), in_shape, Layout::TILE, config.dtype);
  return to_nhwc(conv(device, in));
}

class ApproxModeConvTest : public ::testing::TestWithParam<Isa> {};

// Approx mode really runs the approximation: fused mish results change.
TEST_P(ApproxModeConvTest, MishDiffersFromExact) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  for (MathFidelity fidelity : {MathFidelity::HiFi4, MathFidelity::LoFi}) {
    Conv2dConfig config;
    config.activation = Activation::kMish;
    config.math_fidelity = fidelity;
    const auto exact = conv_output(isa, config, false);
    const auto approx = conv_output(isa, config, true);
    size_t differ = 0;
    for (size_t i = 0; i < exact.size(); ++i) differ += exact[i] != approx[i];
    EXPECT_GT(differ, exact.size() / 2) << to_string(fidelity);
  }
}

// Leaky is cheap and exact: approx mode leaves it, and no activation, bit-identical.
TEST_P(ApproxModeConvTest, LeakyAndNoneBitIdentical) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  for (Activation activation : {Activation::kLeaky, Activation::kNone}) {
    for (MathFidelity fidelity : {MathFidelity::HiFi4, MathFidelity::LoFi}) {
      for (DataType dtype : {DataType::FLOAT32, DataType::BFLOAT16}) {
        Conv2dConfig config;
        config.activation = activation;
        config.math_fidelity = fidelity;
        config.dtype = dtype;
        EXPECT_EQ(bits_of(conv_output(isa, config, false)), bits_of(conv_output(isa, config, true)))
            << to_string(activation) << " " << to_string(fidelity) << " " << to_string(dtype);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, ApproxModeConvTest, ::testing::ValuesIn(kIsas), isa_name);

}  // namespace
}  // namespace yolo4
