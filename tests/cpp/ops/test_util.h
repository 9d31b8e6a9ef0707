// Shared helpers for op tests: random data and element-by-element comparison.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace yolo4::testing {

inline std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Every element within atol + rtol * |expected|; reports the first few mismatches.
inline ::testing::AssertionResult all_close(const std::vector<float>& actual,
                                            const std::vector<float>& expected, float atol,
                                            float rtol) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " vs " << expected.size();
  }
  int bad = 0;
  double max_err = 0;
  ::testing::AssertionResult failure = ::testing::AssertionFailure();
  for (size_t i = 0; i < actual.size(); ++i) {
    const double err = std::fabs(double(actual[i]) - expected[i]);
    max_err = std::max(max_err, err);
    if (!(err <= atol + rtol * std::fabs(expected[i]))) {
      if (bad++ < 5) failure << "[" << i << "] " << actual[i] << " vs " << expected[i] << "; ";
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return failure << bad << " of " << actual.size() << " differ, max abs err " << max_err;
}

}  // namespace yolo4::testing
