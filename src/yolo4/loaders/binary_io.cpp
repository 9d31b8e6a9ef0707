#include "yolo4/loaders/binary_io.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "yolo4/core/error.h"

namespace yolo4 {

uint64_t file_size(const std::string& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  YOLO4_CHECK(!error, path, ": cannot open file: ", error.message());
  return size;
}

std::vector<uint8_t> read_file(const std::string& path, size_t max_bytes) {
  const uint64_t size = file_size(path);
  std::vector<uint8_t> bytes(max_bytes > 0 ? std::min<uint64_t>(size, max_bytes) : size);
  std::ifstream in(path, std::ios::binary);
  YOLO4_CHECK(in, path, ": cannot open file");
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  YOLO4_CHECK(in.gcount() == static_cast<std::streamsize>(bytes.size()), path, ": expected ",
              bytes.size(), " bytes, read ", in.gcount());
  return bytes;
}

std::span<const uint8_t> ByteCursor::take(size_t count) {
  YOLO4_CHECK(count <= remaining(), source_, ": truncated at byte ", offset_, ": expected ", count,
              " more bytes, found ", remaining());
  const auto part = bytes_.subspan(offset_, count);
  offset_ += count;
  return part;
}

std::string ByteCursor::take_string(size_t count) {
  const auto part = take(count);
  return std::string(part.begin(), part.end());
}

}  // namespace yolo4
