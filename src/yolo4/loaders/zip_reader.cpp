#include "yolo4/loaders/zip_reader.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

#include "yolo4/core/error.h"
#include "yolo4/loaders/binary_io.h"

namespace yolo4 {
namespace {

constexpr uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr uint32_t kEndSignature = 0x06054b50;
constexpr uint32_t kZip64EndSignature = 0x06064b50;
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr uint16_t kZip64ExtraId = 0x0001;
constexpr size_t kLocalHeaderSize = 30;
constexpr size_t kEndRecordSize = 22;
constexpr size_t kZip64LocatorSize = 20;
constexpr size_t kMaxCommentSize = 0xffff;
constexpr uint16_t kStored = 0;
constexpr uint16_t kDeflated = 8;
constexpr uint16_t kEncryptedFlag = 1;
// Deflate cannot expand data by more than about 1032:1 (a 258-byte match per ~2 bits), so an
// entry claiming more is lying about its size: refused before its output buffer is allocated.
constexpr uint64_t kMaxDeflateRatio = 1032;

struct EndRecord {
  uint64_t entry_count = 0;
  uint64_t directory_size = 0;
  uint64_t directory_offset = 0;
};

// 32-bit fields set to all ones mean "the real value is in the zip64 extra field", which lists
// only those values, in this order.
void apply_zip64_extra(ZipEntry& entry, ByteCursor extra, bool need_size, bool need_csize,
                       bool need_offset) {
  while (extra.remaining() >= 4) {
    const auto id = extra.read<uint16_t>();
    const auto size = extra.read<uint16_t>();
    ByteCursor field(extra.take(size), extra.source());
    if (id != kZip64ExtraId) continue;
    if (need_size) entry.uncompressed_size = field.read<uint64_t>();
    if (need_csize) entry.compressed_size = field.read<uint64_t>();
    if (need_offset) entry.local_header_offset = field.read<uint64_t>();
    return;
  }
  YOLO4_CHECK(!(need_size || need_csize || need_offset), extra.source(),
              ": sizes are marked zip64 but the zip64 extra field is missing");
}

ZipEntry parse_central_header(ByteCursor& cursor) {
  const size_t start = cursor.offset();
  const auto signature = cursor.read<uint32_t>();
  YOLO4_CHECK(signature == kCentralHeaderSignature, cursor.source(),
              ": bad central directory signature at directory byte ", start, ": expected 0x",
              std::hex, kCentralHeaderSignature, ", found 0x", signature);
  ZipEntry entry;
  cursor.skip(4);  // versions made by / needed
  entry.flags = cursor.read<uint16_t>();
  entry.method = cursor.read<uint16_t>();
  cursor.skip(4);  // modification time and date
  entry.crc32 = cursor.read<uint32_t>();
  const auto csize = cursor.read<uint32_t>();
  const auto size = cursor.read<uint32_t>();
  const auto name_size = cursor.read<uint16_t>();
  const auto extra_size = cursor.read<uint16_t>();
  const auto comment_size = cursor.read<uint16_t>();
  cursor.skip(8);  // disk number, internal and external attributes
  const auto offset = cursor.read<uint32_t>();
  entry.name = cursor.take_string(name_size);
  entry.compressed_size = csize;
  entry.uncompressed_size = size;
  entry.local_header_offset = offset;
  constexpr uint32_t kMarker = 0xffffffff;
  apply_zip64_extra(entry, ByteCursor(cursor.take(extra_size), cursor.source() + ": " + entry.name),
                    size == kMarker, csize == kMarker, offset == kMarker);
  cursor.skip(comment_size);
  return entry;
}

}  // namespace

ZipReader::ZipReader(std::string path) : path_(std::move(path)) {
  file_size_ = file_size(path_);
  file_.open(path_, std::ios::binary);
  YOLO4_CHECK(file_, path_, ": cannot open file");
  read_central_directory();
}

std::vector<uint8_t> ZipReader::read_at(uint64_t offset, uint64_t size, const std::string& what) {
  YOLO4_CHECK(offset <= file_size_ && size <= file_size_ - offset, path_, ": truncated zip: ", what,
              " needs bytes [", offset, ", ", offset + size, ") but the file has ", file_size_,
              " bytes");
  std::vector<uint8_t> bytes(size);
  file_.seekg(static_cast<std::streamoff>(offset));
  file_.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  YOLO4_CHECK(file_, path_, ": read of ", what, " failed");
  return bytes;
}

void ZipReader::read_central_directory() {
  // The end record sits at the very end, followed only by an archive comment of up to 64 KiB.
  const uint64_t tail_size = std::min<uint64_t>(file_size_, kEndRecordSize + kMaxCommentSize);
  const uint64_t tail_offset = file_size_ - tail_size;
  const std::vector<uint8_t> tail = read_at(tail_offset, tail_size, "end of archive");
  size_t end_pos = std::numeric_limits<size_t>::max();
  for (size_t pos = tail.size() >= kEndRecordSize ? tail.size() - kEndRecordSize + 1 : 0;
       pos-- > 0;) {
    if (load_le<uint32_t>(&tail[pos]) == kEndSignature &&
        pos + kEndRecordSize + load_le<uint16_t>(&tail[pos + 20]) == tail.size()) {
      end_pos = pos;
      break;
    }
  }
  YOLO4_CHECK(end_pos != std::numeric_limits<size_t>::max(), path_,
              ": not a zip archive or truncated: no end-of-central-directory record (signature "
              "0x06054b50) in the last ",
              tail_size, " bytes");

  const std::span<const uint8_t> tail_bytes(tail);
  ByteCursor end(tail_bytes.subspan(end_pos, kEndRecordSize), path_ + ": end record");
  end.skip(4 + 2 + 2 + 2);  // signature, disk numbers, entries on this disk
  EndRecord record{end.read<uint16_t>(), end.read<uint32_t>(), end.read<uint32_t>()};
  const bool zip64 = record.entry_count == 0xffff || record.directory_size == 0xffffffff ||
                     record.directory_offset == 0xffffffff;
  if (zip64) {
    YOLO4_CHECK(end_pos >= kZip64LocatorSize, path_, ": zip64 end-of-directory locator missing");
    ByteCursor locator(tail_bytes.subspan(end_pos - kZip64LocatorSize, kZip64LocatorSize),
                       path_ + ": zip64 locator");
    YOLO4_CHECK(locator.read<uint32_t>() == kZip64LocatorSignature, path_,
                ": bad zip64 locator signature (expected 0x07064b50)");
    locator.skip(4);
    const auto zip64_end_offset = locator.read<uint64_t>();
    const auto bytes = read_at(zip64_end_offset, 56, "zip64 end record");
    ByteCursor end64(bytes, path_ + ": zip64 end record");
    YOLO4_CHECK(end64.read<uint32_t>() == kZip64EndSignature, path_,
                ": bad zip64 end record signature (expected 0x06064b50)");
    end64.skip(8 + 2 + 2 + 4 + 4 + 8);  // record size, versions, disk numbers, entries on disk
    record = {end64.read<uint64_t>(), end64.read<uint64_t>(), end64.read<uint64_t>()};
  }

  const auto directory =
      read_at(record.directory_offset, record.directory_size, "central directory");
  ByteCursor cursor(directory, path_ + ": central directory");
  for (uint64_t i = 0; i < record.entry_count; ++i)
    entries_.push_back(parse_central_header(cursor));
}

const ZipEntry* ZipReader::find(std::string_view name) const {
  const auto it = std::find_if(entries_.begin(), entries_.end(),
                               [&](const ZipEntry& entry) { return entry.name == name; });
  return it == entries_.end() ? nullptr : &*it;
}

// The local header repeats the name and has its own extra field (torch.save pads it to align
// the data), so the data offset is only known after reading it.
uint64_t ZipReader::data_offset(const ZipEntry& entry) {
  const auto header =
      read_at(entry.local_header_offset, kLocalHeaderSize, "local header of " + entry.name);
  ByteCursor cursor(header, path_ + ": local header of " + entry.name);
  const auto signature = cursor.read<uint32_t>();
  YOLO4_CHECK(signature == kLocalHeaderSignature, path_, ": bad local header signature for ",
              entry.name, " at byte ", entry.local_header_offset, ": expected 0x", std::hex,
              kLocalHeaderSignature, ", found 0x", signature);
  cursor.skip(22);  // versions, flags, method, time, date, crc, sizes
  const auto name_size = cursor.read<uint16_t>();
  const auto extra_size = cursor.read<uint16_t>();
  return entry.local_header_offset + kLocalHeaderSize + name_size + extra_size;
}

std::vector<uint8_t> ZipReader::read(std::string_view name) {
  const ZipEntry* entry = find(name);
  YOLO4_CHECK(entry, path_, ": zip archive has no entry '", name, "'");
  return read(*entry);
}

std::vector<uint8_t> ZipReader::read(const ZipEntry& entry) {
  YOLO4_CHECK(!(entry.flags & kEncryptedFlag), path_, ": entry ", entry.name,
              " is encrypted, which is not supported");
  YOLO4_CHECK(entry.method == kStored || entry.method == kDeflated, path_, ": entry ", entry.name,
              " uses compression method ", entry.method, ", expected 0 (stored) or 8 (deflate)");
  std::vector<uint8_t> data =
      read_at(data_offset(entry), entry.compressed_size, "data of " + entry.name);
  if (entry.method == kDeflated) {
    // One inflate call: zlib counts in 32 bits, and torch.save never deflates anyway.
    YOLO4_CHECK(data.size() < (uint64_t{1} << 32) && entry.uncompressed_size < (uint64_t{1} << 32),
                path_, ": deflated entry ", entry.name, " is 4 GiB or larger, not supported");
    YOLO4_CHECK(entry.uncompressed_size <= data.size() * kMaxDeflateRatio, path_,
                ": deflated entry ", entry.name, " claims ", entry.uncompressed_size,
                " bytes from ", data.size(), " compressed bytes, more than deflate can produce (",
                kMaxDeflateRatio, ":1): corrupt header or zip bomb");
    std::vector<uint8_t> inflated(entry.uncompressed_size);
    z_stream stream{};
    // Negative window bits: raw deflate data, as zip stores it (no zlib header).
    YOLO4_CHECK(inflateInit2(&stream, -MAX_WBITS) == Z_OK, path_, ": zlib init failed");
    stream.next_in = data.data();
    stream.avail_in = static_cast<uInt>(data.size());
    stream.next_out = inflated.data();
    stream.avail_out = static_cast<uInt>(inflated.size());
    const int status = inflate(&stream, Z_FINISH);
    const uint64_t produced = stream.total_out;
    inflateEnd(&stream);
    YOLO4_CHECK(status == Z_STREAM_END && produced == entry.uncompressed_size, path_, ": entry ",
                entry.name, " does not inflate to its recorded ", entry.uncompressed_size,
                " bytes (zlib status ", status, ", ", produced, " bytes out)");
    data = std::move(inflated);
  }
  YOLO4_CHECK(data.size() == entry.uncompressed_size, path_, ": entry ", entry.name,
              " is stored with ", data.size(), " bytes but its recorded size is ",
              entry.uncompressed_size);
  const auto crc = static_cast<uint32_t>(crc32_z(0L, data.data(), data.size()));
  YOLO4_CHECK(crc == entry.crc32, path_, ": entry ", entry.name, " is corrupt: CRC-32 0x", std::hex,
              crc, ", expected 0x", entry.crc32);
  return data;
}

}  // namespace yolo4
