#include "yolo4/loaders/darknet_weights.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <iterator>

#include "loaders/loader_test_util.h"
#include "yolo4/core/error.h"

namespace yolo4 {
namespace {

using test::expect_error;
using test::TempDir;

template <class T>
void put(std::vector<uint8_t>& bytes, T value) {
  const size_t at = bytes.size();
  bytes.resize(at + sizeof(T));
  std::memcpy(&bytes[at], &value, sizeof(T));
}

std::vector<uint8_t> weights_file(int32_t major, int32_t minor, uint64_t seen, bool wide_seen,
                                  const std::vector<float>& values) {
  std::vector<uint8_t> bytes;
  put(bytes, major), put(bytes, minor), put(bytes, int32_t{5});
  if (wide_seen) {
    put(bytes, seen);
  } else {
    put(bytes, static_cast<uint32_t>(seen));
  }
  for (const float v : values) put(bytes, v);
  return bytes;
}

TEST(DarknetWeights, HeaderVersionsDecideSeenWidth) {
  TempDir dir;
  const std::string path = dir.path("w.weights");
  struct Case {
    int32_t major, minor;
    bool wide;
  };
  for (const Case c : {Case{0, 1, false}, Case{0, 2, true}, Case{1, 0, true}, Case{0, 0, false}}) {
    SCOPED_TRACE(std::to_string(c.major) + "." + std::to_string(c.minor));
    test::write_bytes(path, weights_file(c.major, c.minor, 32013312, c.wide, {1.5f, -2, 3}));
    DarknetWeightsReader reader(path);
    EXPECT_EQ(reader.major(), c.major);
    EXPECT_EQ(reader.minor(), c.minor);
    EXPECT_EQ(reader.revision(), 5);
    EXPECT_EQ(reader.seen(), 32013312u);
    EXPECT_EQ(reader.header_bytes(), c.wide ? 20u : 16u);
    reader.expect_float_count(3);
    EXPECT_EQ(reader.read(1), std::vector<float>{1.5f});
    EXPECT_EQ(reader.read(2), (std::vector<float>{-2, 3}));
    EXPECT_EQ(reader.read(0), std::vector<float>{});
    reader.expect_end();
  }
}

TEST(DarknetWeights, TruncationAndTrailingBytesNameSizes) {
  TempDir dir;
  const std::string path = dir.path("w.weights");
  test::write_bytes(path, weights_file(0, 2, 0, true, {1, 2, 3}));  // 20 + 12 = 32 bytes
  DarknetWeightsReader reader(path);
  expect_error([&] { reader.expect_float_count(4); },
               {"w.weights", "truncated", "expected 36 bytes", "found 32"});
  expect_error([&] { reader.expect_float_count(2); },
               {"w.weights", "too large", "expected 28 bytes", "found 32"});
  reader.read(2);
  expect_error([&] { reader.expect_end(); }, {"w.weights", "4 trailing bytes", "found 32"});
  expect_error([&] { reader.read(2); },
               {"w.weights", "truncated", "at byte 28", "at least 36 bytes", "found 32"});
}

// A reader that fails in its constructor (after opening the file) leaves no file open: a
// fuzzer's thousands of bad files once ran the process out of descriptors.
TEST(DarknetWeights, FailedReadersCloseTheirFile) {
  TempDir dir;
  const std::string path = dir.path("w.weights");
  test::write_bytes(path, weights_file(0, 2, 0, false, {}));  // a 16-byte header for version 0.2
  const auto open_files = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                         std::filesystem::directory_iterator{});
  };
  const auto before = open_files();
  for (int i = 0; i < 50; ++i) EXPECT_THROW(DarknetWeightsReader{path}, Error);
  EXPECT_EQ(open_files(), before);
}

TEST(DarknetWeights, BadHeadersFail) {
  TempDir dir;
  const std::string path = dir.path("w.weights");
  test::write_bytes(path, {0, 0, 0, 0, 2, 0});
  expect_error([&] { DarknetWeightsReader{path}; }, {"w.weights", "truncated", "file has 6"});
  // Version 0.2 needs a 20-byte header.
  test::write_bytes(path, weights_file(0, 2, 0, false, {}));
  expect_error([&] { DarknetWeightsReader{path}; }, {"w.weights", "20-byte header", "16 bytes"});
  test::write_bytes(path, weights_file(0x4b50, 0x1234, 0, true, {}));
  expect_error([&] { DarknetWeightsReader{path}; }, {"w.weights", "not a darknet weights file"});
  expect_error([&] { DarknetWeightsReader{dir.path("none.weights")}; },
               {"none.weights", "cannot open"});
}

}  // namespace
}  // namespace yolo4
