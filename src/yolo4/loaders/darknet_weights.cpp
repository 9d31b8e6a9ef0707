#include "yolo4/loaders/darknet_weights.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "yolo4/core/error.h"
#include "yolo4/loaders/binary_io.h"

namespace yolo4 {
namespace {

constexpr uint64_t kVersionBytes = 3 * sizeof(int32_t);
// Darknet itself treats versions this large as garbage; here they mean "not a weights file".
constexpr int32_t kMaxVersionPart = 1000;

}  // namespace

DarknetWeightsReader::DarknetWeightsReader(std::string path) : path_(std::move(path)) {
  file_bytes_ = file_size(path_);
  file_.fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  YOLO4_CHECK(file_.fd >= 0, path_, ": cannot open darknet weights file: ", std::strerror(errno));
  YOLO4_CHECK(file_bytes_ >= kVersionBytes + sizeof(uint32_t), path_,
              ": truncated darknet weights: expected a header of at least 16 bytes, file has ",
              file_bytes_);
  uint8_t header[kVersionBytes + sizeof(uint64_t)] = {};
  read_bytes(0, kVersionBytes, header, "header");
  major_ = load_le<int32_t>(header);
  minor_ = load_le<int32_t>(header + 4);
  revision_ = load_le<int32_t>(header + 8);
  YOLO4_CHECK(major_ >= 0 && minor_ >= 0 && major_ < kMaxVersionPart && minor_ < kMaxVersionPart,
              path_, ": not a darknet weights file: header version ", major_, ".", minor_, ".",
              revision_);
  // Version 0.2 widened the `seen` counter from 32 to 64 bits.
  const bool wide_seen = major_ * 10 + minor_ >= 2;
  header_bytes_ = kVersionBytes + (wide_seen ? sizeof(uint64_t) : sizeof(uint32_t));
  YOLO4_CHECK(file_bytes_ >= header_bytes_, path_, ": truncated darknet weights: version ", major_,
              ".", minor_, " needs a ", header_bytes_, "-byte header, file has ", file_bytes_,
              " bytes");
  read_bytes(kVersionBytes, header_bytes_ - kVersionBytes, header + kVersionBytes, "header");
  seen_ = wide_seen ? load_le<uint64_t>(header + kVersionBytes)
                    : load_le<uint32_t>(header + kVersionBytes);
  position_ = header_bytes_;
}

void DarknetWeightsReader::expect_float_count(uint64_t count) const {
  const uint64_t expected = header_bytes_ + count * sizeof(float);
  YOLO4_CHECK(file_bytes_ == expected, path_, ": ",
              file_bytes_ < expected ? "truncated darknet weights" : "darknet weights too large",
              ": expected ", expected, " bytes (", header_bytes_, "-byte header + ", count,
              " float32), found ", file_bytes_);
}

DarknetWeightsReader::FileDescriptor::~FileDescriptor() {
  if (fd >= 0) ::close(fd);
}

void DarknetWeightsReader::read_bytes(uint64_t offset, size_t bytes, void* dst,
                                      const char* what) const {
  auto* out = static_cast<char*>(dst);
  while (bytes > 0) {
    const ssize_t got = ::pread(file_.fd, out, bytes, off_t(offset));
    if (got < 0 && errno == EINTR) continue;
    YOLO4_CHECK(got > 0, path_, ": ", what, " read failed at byte ", offset, ": ",
                got < 0 ? std::strerror(errno) : "unexpected end of file");
    out += got, offset += uint64_t(got), bytes -= size_t(got);
  }
}

std::vector<float> DarknetWeightsReader::read(size_t count) {
  std::vector<float> values = read_at(position_, count);
  position_ += uint64_t{count} * sizeof(float);
  return values;
}

std::vector<float> DarknetWeightsReader::read_at(uint64_t offset, size_t count) const {
  const uint64_t needed = offset + uint64_t{count} * sizeof(float);
  YOLO4_CHECK(needed <= file_bytes_, path_, ": truncated darknet weights: reading ", count,
              " floats at byte ", offset, " needs a file of at least ", needed, " bytes, found ",
              file_bytes_);
  std::vector<float> values(count);
  read_bytes(offset, count * sizeof(float), values.data(), "weights");
  return values;
}

void DarknetWeightsReader::expect_end() const {
  YOLO4_CHECK(position_ == file_bytes_, path_, ": ", file_bytes_ - position_,
              " trailing bytes after the last layer: expected a file of ", position_,
              " bytes, found ", file_bytes_);
}

}  // namespace yolo4
