// Helpers for model tests: the generated test data, PCC, tensors from .npy.
#pragma once

#include "test_env.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "yolo4/loaders/npy.h"
#include "yolo4/ops/layout.h"

namespace yolo4::testing {

// The directory made by tests/python/make_testdata.py, or "" when absent.
inline std::string testdata_dir() {
  const std::string dir = test_env::testdata_dir();
  return std::filesystem::exists(dir + "/yolov4_random.pth") ? dir : "";
}

#define YOLO4_REQUIRE_TESTDATA(dir)                                                    \
  const std::string dir = ::yolo4::testing::testdata_dir();                            \
  if (dir.empty()) GTEST_SKIP() << "no test data: run ctest (fixture yolo4_testdata) " \
                                   "or tests/python/make_testdata.py"

// Pearson correlation coefficient, as the report's assert_with_pcc.
inline double pcc(const std::vector<float>& a, const std::vector<float>& b) {
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= double(a.size());
  mb /= double(b.size());
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

inline double max_abs_error(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

// An NCHW .npy as a tensor (rounded to bfloat16 if asked).
inline Tensor npy_tensor(const std::string& path, DataType dtype = DataType::FLOAT32) {
  const HostArray a = read_npy(path);
  EXPECT_EQ(a.shape.size(), 4u) << path;
  return from_nchw(a.data.data(), {int(a.shape[0]), int(a.shape[2]), int(a.shape[3]), int(a.shape[1])},
                   Layout::TILE, dtype);
}

// Compares a tensor with the reference .npy (NCHW): shapes equal, PCC >= min_pcc; prints the
// max abs error as the report's tests do.
inline void expect_matches_reference(const Tensor& actual, const std::string& path, double min_pcc) {
  const HostArray expected = read_npy(path);
  const Shape& s = actual.shape();
  ASSERT_EQ(expected.shape, (std::vector<int64_t>{s.n, s.c, s.h, s.w})) << path;
  const std::vector<float> got = to_nchw(actual);
  const double p = pcc(got, expected.data);
  std::printf("  %-40s PCC %.7f  max abs err %.3g\n", std::filesystem::path(path).filename().c_str(),
              p, max_abs_error(got, expected.data));
  EXPECT_GE(p, min_pcc) << path;
}

}  // namespace yolo4::testing
