// Darknet .weights files: a small header, then every layer's float32 parameters back to back.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace yolo4 {

// Reads the header on construction, then parameters in file order with read(), or anywhere with
// read_at() (which threads may call at once). The file has no layer boundaries, so the caller's
// model decides the counts; size mismatches fail with the expected and actual file sizes.
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
  // The `count` floats from byte `offset` on.
  std::vector<float> read_at(uint64_t offset, size_t count) const;
  // Fails if bytes remain after the last read.
  void expect_end() const;

 private:
  // `bytes` bytes from `offset` into dst; `what` names them in an error.
  void read_bytes(uint64_t offset, size_t bytes, void* dst, const char* what) const;

  // The open file, closed with its owner, also when the constructor throws.
  struct FileDescriptor {
    int fd = -1;
    FileDescriptor() = default;
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor();
  };

  std::string path_;
  FileDescriptor file_;
  int32_t major_ = 0, minor_ = 0, revision_ = 0;
  uint64_t seen_ = 0;
  uint64_t header_bytes_ = 0;
  uint64_t file_bytes_ = 0;
  uint64_t position_ = 0;
};

}  // namespace yolo4
