// Reads entries of a zip archive (what torch.save writes since PyTorch 1.6).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace yolo4 {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflated
  uint16_t flags = 0;
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t local_header_offset = 0;
};

// Reads archives with minizip (zlib's contrib unzip). The central directory is read on
// construction; entry data on demand, so large archives are not held in memory. Before an entry's
// buffer is allocated its size claim is checked against what the file can hold (stored: its
// bytes; deflated: at most deflate's 1032:1), so a lying header or a zip bomb fails without
// allocating the claimed size. Truncation, bad signatures, unsupported methods and CRC
// mismatches fail with a message naming the archive and entry.
class ZipReader {
 public:
  explicit ZipReader(std::string path);
  ~ZipReader();
  ZipReader(ZipReader&&) noexcept;
  ZipReader& operator=(ZipReader&&) noexcept;

  const std::string& path() const { return path_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;  // nullptr when absent

  std::vector<uint8_t> read(const ZipEntry& entry);  // entry: one of entries()
  std::vector<uint8_t> read(std::string_view name);  // fails when absent

 private:
  struct Archive;  // the open file and minizip's handle (zip_reader.cpp)

  std::string path_;
  std::unique_ptr<Archive> archive_;
  std::vector<ZipEntry> entries_;
};

}  // namespace yolo4
