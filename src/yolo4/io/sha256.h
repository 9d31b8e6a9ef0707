// SHA-256 (FIPS 180-4), to verify downloaded weights without another dependency.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace yolo4 {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // The digest of everything passed to update(); the object must not be updated afterwards.
  std::array<uint8_t, 32> finish();
  std::string finish_hex();  // lowercase hex

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string sha256_hex(std::string_view data);

// Hashes a file in chunks; throws naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace yolo4
