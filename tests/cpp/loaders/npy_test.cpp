#include "yolo4/loaders/npy.h"

#include <gtest/gtest.h>

#include <cstring>

#include "loaders/loader_test_util.h"

namespace yolo4 {
namespace {

using test::expect_error;
using test::TempDir;

// A .npy file with `header` (the dict text, padded here) and `data_bytes` of payload.
std::vector<uint8_t> npy_bytes(const std::string& header, size_t data_bytes, int major = 1) {
  std::string padded = header;
  while ((10 + padded.size() + 1) % 64 != 0) padded += ' ';
  padded += '\n';
  std::vector<uint8_t> bytes = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<uint8_t>(major), 0};
  const auto size = static_cast<uint32_t>(padded.size());
  bytes.push_back(static_cast<uint8_t>(size));
  bytes.push_back(static_cast<uint8_t>(size >> 8));
  if (major == 2) bytes.insert(bytes.end(), {0, 0});
  bytes.insert(bytes.end(), padded.begin(), padded.end());
  bytes.resize(bytes.size() + data_bytes, 0);
  return bytes;
}

TEST(Npy, RoundTripsShapesAndValues) {
  TempDir dir;
  const std::vector<std::vector<int64_t>> shapes = {{}, {5}, {2, 3}, {1, 3, 4, 2}, {0, 7}};
  for (const auto& shape : shapes) {
    int64_t count = 1;
    for (const int64_t d : shape) count *= d;
    std::vector<float> values(static_cast<size_t>(count));
    for (size_t i = 0; i < values.size(); ++i) values[i] = 0.25f * static_cast<float>(i) - 1.0f;
    const std::string path = dir.path("a.npy");
    write_npy(path, values.data(), shape);
    const size_t header_size = test::read_bytes(path).size() - values.size() * sizeof(float);
    EXPECT_EQ(header_size % 64, 0u) << "NumPy aligns the data to 64 bytes";
    const HostArray array = read_npy(path);
    EXPECT_EQ(array.shape, shape);
    EXPECT_EQ(array.data, values);
  }
}

TEST(Npy, ReadsNumpyWrittenFiles) {
  TempDir dir;
  const std::string error = test::run_python(dir, R"(
import numpy as np
np.save('a.npy', np.arange(12, dtype=np.float32).reshape(3, 4) / 8)
np.lib.format.write_array(open('v2.npy', 'wb'), np.full((2,), 1.5, np.float32), version=(2, 0))
np.save('f64.npy', np.zeros(3))
np.save('fortran.npy', np.asfortranarray(np.zeros((2, 3), np.float32)))
np.save('big_endian.npy', np.zeros(3, '>f4'))
)");
  if (!error.empty()) GTEST_SKIP() << error;
  const HostArray a = read_npy(dir.path("a.npy"));
  EXPECT_EQ(a.shape, (std::vector<int64_t>{3, 4}));
  ASSERT_EQ(a.data.size(), 12u);
  EXPECT_EQ(a.data[11], 11.0f / 8);
  const HostArray v2 = read_npy(dir.path("v2.npy"));
  EXPECT_EQ(v2.shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(v2.data, (std::vector<float>{1.5f, 1.5f}));
  expect_error([&] { read_npy(dir.path("f64.npy")); }, {"f64.npy", "'<f4'", "'<f8'"});
  expect_error([&] { read_npy(dir.path("fortran.npy")); }, {"fortran.npy", "Fortran"});
  expect_error([&] { read_npy(dir.path("big_endian.npy")); }, {"'>f4'"});
}

TEST(Npy, Version2Header) {
  TempDir dir;
  const std::string path = dir.path("v2.npy");
  test::write_bytes(
      path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 8, /*major=*/2));
  EXPECT_EQ(read_npy(path).shape, (std::vector<int64_t>{2}));
}

TEST(Npy, BadFilesFailClearly) {
  TempDir dir;
  const std::string path = dir.path("bad.npy");
  const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

  test::write_bytes(path, npy_bytes(good, 6 * 4 - 1));
  expect_error([&] { read_npy(path); }, {"bad.npy", "expected 152 bytes", "found 151"});
  test::write_bytes(path, npy_bytes(good, 6 * 4 + 4));
  expect_error([&] { read_npy(path); }, {"bad.npy", "expected 152 bytes", "found 156"});

  test::write_bytes(path, {'P', 'K', 3, 4, 0, 0, 0, 0});
  expect_error([&] { read_npy(path); }, {"bad.npy", "not a .npy file"});
  test::write_bytes(path, npy_bytes(good, 24, /*major=*/3));
  expect_error([&] { read_npy(path); }, {"unsupported .npy version 3.0"});

  auto truncated_header = npy_bytes(good, 0);
  truncated_header.resize(30);
  test::write_bytes(path, truncated_header);
  expect_error([&] { read_npy(path); }, {"bad.npy", "truncated"});

  test::write_bytes(path, npy_bytes("{'descr': '<f4', 'shape': (2,), }", 8));
  expect_error([&] { read_npy(path); }, {"lacks descr, fortran_order or shape"});
  test::write_bytes(path,
                    npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,-1), }", 8));
  expect_error([&] { read_npy(path); }, {"bad .npy header", "non-negative integer"});
  test::write_bytes(path, npy_bytes("{'descr': '<f4', 'fortran_order': Nope, 'shape': (2,), }", 8));
  expect_error([&] { read_npy(path); }, {"True or False"});

  expect_error([&] { read_npy(dir.path("missing.npy")); }, {"missing.npy", "cannot open"});
}

// A small file whose header claims a huge shape fails on the header, before the array is
// allocated.
TEST(Npy, HugeShapeClaimsFailBeforeAllocating) {
  TempDir dir;
  const std::string path = dir.path("huge.npy");
  const auto header = [](const std::string& shape) {
    return "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  };
  test::write_bytes(path, npy_bytes(header("(1000000, 1000000)"), 16));
  expect_error(
      [&] { read_npy(path); },
      {"huge.npy", "expected 4000000000128 bytes for shape (1000000, 1000000)", "found 144"});
  test::write_bytes(path, npy_bytes(header("(100000, 100000, 100000)"), 16));
  expect_error([&] { read_npy(path); }, {"huge.npy", "shape has too many elements"});
  test::write_bytes(path, npy_bytes(header("(99999999999999999999,)"), 16));
  expect_error([&] { read_npy(path); }, {"huge.npy", "dimension too large"});
}

TEST(Npy, WriteFailsOnBadShapeOrPath) {
  TempDir dir;
  const float value = 0;
  const std::vector<int64_t> negative = {2, -1};
  expect_error([&] { write_npy(dir.path("n.npy"), &value, negative); }, {"negative dimension"});
  const std::vector<int64_t> one = {1};
  expect_error([&] { write_npy(dir.path("no/such/dir.npy"), &value, one); }, {"cannot create"});
}

}  // namespace
}  // namespace yolo4
