// Darknet .weights files: a small header, then every layer's float32 parameters back to back.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace yolo4 {

// Reads the header on construction, then parameters in file order with read(). The file has no
// layer boundaries, so the caller's model decides the counts; size mismatches fail with the
// expected and actual file sizes.
class DarknetWeightsReader {
 public:
  explicit DarknetWeightsReader(std::string path);

  const std::string& path() const { return path_; }
  int32_t major() const { return major_; }
  int32_t minor() const { return minor_; }
  int32_t revision() const { return revision_; }
  uint64_t seen() const { return seen_; }  // images seen in training
  uint64_t header_bytes() const { return header_bytes_; }
  uint64_t file_bytes() const { return file_bytes_; }
  uint64_t position() const { return position_; }  // byte offset of the next read

  // Fails unless the file holds exactly `count` floats after the header.
  void expect_float_count(uint64_t count) const;
  // The next `count` floats.
  std::vector<float> read(size_t count);
  // Fails if bytes remain after the last read.
  void expect_end() const;

 private:
  std::string path_;
  std::ifstream file_;
  int32_t major_ = 0, minor_ = 0, revision_ = 0;
  uint64_t seen_ = 0;
  uint64_t header_bytes_ = 0;
  uint64_t file_bytes_ = 0;
  uint64_t position_ = 0;
};

}  // namespace yolo4
