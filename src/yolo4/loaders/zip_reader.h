// Reads entries of a zip archive (what torch.save writes since PyTorch 1.6).
//
// Hand-written on purpose, after trying the Debian-packaged libraries (issue 16): Debian 12's
// minizip (1.1) never applies zip64 extra fields on 64-bit Linux (it compares the 0xffffffff
// marker with (ZPOS64_T)(unsigned long)-1), so checkpoints of 4 GiB and more would not load;
// libzip 1.7 reads zip64 but neither checks local header signatures nor reports a CRC mismatch
// on a stored entry, so both would need the checks below written again beside them. The data
// itself is inflated by zlib.
#pragma once

#include <cstdint>
#include <fstream>
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

// Parses the central directory (with zip64 records and extra fields) on construction; entry data
// is read on demand, so large archives are not held in memory. Truncation, bad signatures,
// unsupported methods and CRC mismatches fail with a message naming the archive and entry.
class ZipReader {
 public:
  explicit ZipReader(std::string path);

  const std::string& path() const { return path_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;  // nullptr when absent

  std::vector<uint8_t> read(const ZipEntry& entry);
  std::vector<uint8_t> read(std::string_view name);  // fails when absent

 private:
  std::vector<uint8_t> read_at(uint64_t offset, uint64_t size, const std::string& what);
  void read_central_directory();
  uint64_t data_offset(const ZipEntry& entry);

  std::string path_;
  std::ifstream file_;
  uint64_t file_size_ = 0;
  std::vector<ZipEntry> entries_;
};

}  // namespace yolo4
