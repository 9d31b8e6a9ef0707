// Shared by the fuzz targets: the parsers read files, so each input is written to a scratch file
// first; a yolo4::Error is the expected outcome for a bad input, anything else is a finding.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "yolo4/core/error.h"

namespace yolo4::fuzz {

// One file per process and name, in memory when /dev/shm exists (libFuzzer -fork/-jobs run
// several processes at once); a target that needs several files uses several names.
inline std::string scratch_path(const std::string& name) {
  static const std::filesystem::path dir =
      std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  static std::vector<std::string> created;
  static const bool removed_at_exit = std::atexit([] {
                                        for (const std::string& path : created)
                                          std::remove(path.c_str());
                                      }) == 0;
  (void)removed_at_exit;
  std::string path = (dir / ("yolo4_fuzz_" + name + "_" + std::to_string(getpid()))).string();
  if (std::find(created.begin(), created.end(), path) == created.end()) created.push_back(path);
  return path;
}

inline std::string write_scratch(const std::string& name, std::span<const uint8_t> bytes) {
  std::string path = scratch_path(name);
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) __builtin_trap();  // the harness itself is broken
  if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), file);
  std::fclose(file);
  return path;
}

// Splits an input made of several parts at its first NUL byte: the text part (which then never
// holds a NUL) and the rest, empty when there is no NUL.
inline std::pair<std::span<const uint8_t>, std::span<const uint8_t>> split_at_nul(
    std::span<const uint8_t> bytes) {
  const auto nul = std::find(bytes.begin(), bytes.end(), uint8_t{0});
  const size_t n = size_t(nul - bytes.begin());
  if (n == bytes.size()) return {bytes, {}};
  return {bytes.first(n), bytes.subspan(n + 1)};
}

// Runs f; yolo4::Error is how a parser refuses bad input. Any other exception escapes and
// libFuzzer reports it as a crash.
template <class F>
void expect_ok_or_error(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
}

// Reads little-endian fields from the front of a fuzz input; past the end it yields zeros, so
// every input is valid and mutations of the header stay meaningful.
class InputReader {
 public:
  explicit InputReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  uint32_t u8() { return take(1); }
  uint32_t u16() { return take(2); }
  uint32_t u32() { return take(4); }
  std::span<const uint8_t> bytes(size_t count) {
    const size_t n = std::min(count, bytes_.size());
    const auto part = bytes_.first(n);
    bytes_ = bytes_.subspan(n);
    return part;
  }
  std::span<const uint8_t> rest() { return bytes(bytes_.size()); }

 private:
  uint32_t take(size_t size) {
    uint32_t value = 0;
    const auto part = bytes(size);
    for (size_t i = 0; i < part.size(); ++i) value |= uint32_t{part[i]} << (8 * i);
    return value;
  }
  std::span<const uint8_t> bytes_;
};

}  // namespace yolo4::fuzz
