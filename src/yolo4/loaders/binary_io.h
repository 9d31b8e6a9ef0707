// Bounds-checked little-endian reading shared by the file loaders.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace yolo4 {

// Every format read here (npy '<f4', zip, pickle, torch storages, darknet) is little-endian.
static_assert(std::endian::native == std::endian::little,
              "yolo4 loaders need a little-endian host");

template <class T>
T load_le(const uint8_t* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof value);
  return value;
}

// Size of a regular file in bytes; fails naming the path if it cannot be opened.
uint64_t file_size(const std::string& path);

// The whole file, or its first max_bytes when max_bytes > 0; fails naming the path if it cannot
// be read.
std::vector<uint8_t> read_file(const std::string& path, size_t max_bytes = 0);

// Reads fields one after another from a byte buffer; running past the end fails with a message
// naming `source` (e.g. "model.pth: data.pkl"), the offset and the bytes needed vs left.
class ByteCursor {
 public:
  ByteCursor(std::span<const uint8_t> bytes, std::string source)
      : bytes_(bytes), source_(std::move(source)) {}

  template <class T>
  T read() {
    return load_le<T>(take(sizeof(T)).data());
  }
  std::span<const uint8_t> take(size_t count);
  std::string take_string(size_t count);
  void skip(size_t count) { take(count); }

  size_t offset() const { return offset_; }
  size_t remaining() const { return bytes_.size() - offset_; }
  bool at_end() const { return offset_ == bytes_.size(); }
  const std::string& source() const { return source_; }

 private:
  std::span<const uint8_t> bytes_;
  std::string source_;
  size_t offset_ = 0;
};

}  // namespace yolo4
