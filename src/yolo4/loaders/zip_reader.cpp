#include "yolo4/loaders/zip_reader.h"

#include <unzip.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <utility>

#include "yolo4/core/error.h"
#include "yolo4/loaders/binary_io.h"

namespace yolo4 {
namespace {

constexpr uint16_t kStored = 0;
constexpr uint16_t kDeflated = 8;
constexpr uint16_t kEncryptedFlag = 1;
// Deflate cannot expand data by more than about 1032:1 (a 258-byte match per ~2 bits), so an
// entry claiming more is lying about its size: refused before its output buffer is allocated.
constexpr uint64_t kMaxDeflateRatio = 1032;
constexpr size_t kMaxNameSize = 0xffff;  // a 16-bit field
// unzReadCurrentFile counts in int: larger entries are read in pieces.
constexpr uint64_t kReadPiece = uint64_t{1} << 30;

// What an entry claims before anything is allocated for it: a supported method, and a size its
// stored bytes (or deflate) can produce.
void check_claims(const std::string& path, const ZipEntry& entry) {
  YOLO4_CHECK(!(entry.flags & kEncryptedFlag), path, ": entry ", entry.name,
              " is encrypted, which is not supported");
  YOLO4_CHECK(entry.method == kStored || entry.method == kDeflated, path, ": entry ", entry.name,
              " uses compression method ", entry.method, ", expected 0 (stored) or 8 (deflate)");
  if (entry.method == kStored) {
    YOLO4_CHECK(entry.compressed_size == entry.uncompressed_size, path, ": entry ", entry.name,
                " is stored with ", entry.compressed_size, " bytes but its recorded size is ",
                entry.uncompressed_size);
  } else {
    const uint64_t least_compressed = entry.uncompressed_size / kMaxDeflateRatio +
                                      (entry.uncompressed_size % kMaxDeflateRatio != 0);
    YOLO4_CHECK(entry.compressed_size >= least_compressed, path, ": deflated entry ", entry.name,
                " claims ", entry.uncompressed_size, " bytes from ", entry.compressed_size,
                " compressed bytes, more than deflate can produce (", kMaxDeflateRatio,
                ":1): corrupt header or zip bomb");
  }
}

}  // namespace

// The file as minizip sees it, through the I/O callbacks below. Reads stop at the file's end and
// the first one that wanted more is remembered, so that minizip's bare error codes become
// messages saying which bytes a truncated archive lacks.
struct ZipReader::Archive {
  std::ifstream file;
  uint64_t size = 0;
  uint64_t position = 0;       // where minizip reads next
  uint64_t file_position = 0;  // where `file` is: it seeks only when the two differ
  bool io_error = false;
  std::optional<std::pair<uint64_t, uint64_t>> overrun;  // [begin, end) of a read past the end
  uint64_t last_seek = 0;  // the last absolute seek (opening an entry starts at its local header)
  unzFile handle = nullptr;
  std::vector<unz64_file_pos> positions;  // each entry's place in the central directory

  ~Archive() {
    if (handle) unzClose(handle);
  }

  // Fails naming `what` if a call since overrun was reset read past the end of the file.
  void check_overrun(const std::string& path, const std::string& what) const {
    if (!overrun) return;
    fail(path, ": truncated zip: ", what, " needs bytes [", overrun->first, ", ", overrun->second,
         ") but the file has ", size, " bytes");
  }

  uLong read(void* buffer, uLong wanted) {
    const uint64_t available = position < size ? std::min<uint64_t>(wanted, size - position) : 0;
    if (available < wanted && !overrun) overrun = {{position, position + wanted}};
    if (available == 0) return 0;
    if (file_position != position) file.seekg(static_cast<std::streamoff>(position));
    file.read(static_cast<char*>(buffer), static_cast<std::streamsize>(available));
    if (!file) {
      io_error = true;
      return 0;
    }
    position += available;
    file_position = position;
    return static_cast<uLong>(available);
  }

  // Seeking past the end is allowed, as for a FILE; reading there is what fails.
  long seek(ZPOS64_T offset, int origin) {
    const uint64_t base = origin == ZLIB_FILEFUNC_SEEK_SET   ? 0
                          : origin == ZLIB_FILEFUNC_SEEK_CUR ? position
                                                             : size;
    position = base + offset;  // minizip passes backward moves as wrapped-around offsets
    if (origin == ZLIB_FILEFUNC_SEEK_SET) last_seek = position;
    return 0;
  }

  static zlib_filefunc64_def callbacks() {
    zlib_filefunc64_def io{};
    // unzOpen2_64's "path" is the Archive itself: the stream every other callback gets.
    io.zopen64_file = [](voidpf, const void* archive, int) -> voidpf {
      return const_cast<void*>(archive);
    };
    io.zread_file = [](voidpf, voidpf archive, void* buffer, uLong size) {
      return static_cast<Archive*>(archive)->read(buffer, size);
    };
    io.zwrite_file = [](voidpf, voidpf, const void*, uLong) -> uLong { return 0; };
    io.ztell64_file = [](voidpf, voidpf archive) -> ZPOS64_T {
      return static_cast<Archive*>(archive)->position;
    };
    io.zseek64_file = [](voidpf, voidpf archive, ZPOS64_T offset, int origin) {
      return static_cast<Archive*>(archive)->seek(offset, origin);
    };
    io.zclose_file = [](voidpf, voidpf) { return 0; };  // the Archive owns the file
    io.zerror_file = [](voidpf, voidpf archive) {
      return static_cast<Archive*>(archive)->io_error ? 1 : 0;
    };
    return io;
  }
};

ZipReader::ZipReader(std::string path)
    : path_(std::move(path)), archive_(std::make_unique<Archive>()) {
  Archive& archive = *archive_;
  archive.size = file_size(path_);
  archive.file.open(path_, std::ios::binary);
  YOLO4_CHECK(archive.file, path_, ": cannot open file");
  zlib_filefunc64_def io = Archive::callbacks();
  archive.handle = unzOpen2_64(&archive, &io);
  YOLO4_CHECK(archive.handle, path_,
              ": not a zip archive or truncated: no end-of-central-directory record (signature "
              "0x06054b50) that locates a central directory within the file's ",
              archive.size, " bytes");

  unz_global_info64 global{};
  unzGetGlobalInfo64(archive.handle, &global);
  std::vector<char> name(kMaxNameSize + 1);
  for (uint64_t i = 0; i < global.number_entry; ++i) {
    const std::string what = "central directory entry " + std::to_string(i);
    archive.overrun.reset();
    unz_file_info64 info{};
    int status = i == 0 ? unzGoToFirstFile(archive.handle) : unzGoToNextFile(archive.handle);
    if (status == UNZ_OK) {
      status = unzGetCurrentFileInfo64(archive.handle, &info, name.data(), name.size(), nullptr, 0,
                                       nullptr, 0);
    }
    archive.check_overrun(path_, what);
    YOLO4_CHECK(status != UNZ_BADZIPFILE, path_, ": bad central directory signature at ", what,
                " (expected 0x02014b50)");
    YOLO4_CHECK(status == UNZ_OK, path_, ": cannot read ", what, " (minizip error ", status, ")");
    ZipEntry& entry = entries_.emplace_back();
    entry.name.assign(name.data(), info.size_filename);
    entry.method = static_cast<uint16_t>(info.compression_method);
    entry.flags = static_cast<uint16_t>(info.flag);
    entry.crc32 = static_cast<uint32_t>(info.crc);
    entry.compressed_size = info.compressed_size;
    entry.uncompressed_size = info.uncompressed_size;
    unzGetFilePos64(archive.handle, &archive.positions.emplace_back());
    // minizip keeps the local header's offset to itself; opening the entry (raw: nothing is
    // inflated or checked yet) seeks there first. Bad local headers fail when read, not here.
    if (unzOpenCurrentFile2(archive.handle, nullptr, nullptr, /*raw=*/1) == UNZ_OK) {
      unzCloseCurrentFile(archive.handle);
    }
    entry.local_header_offset = archive.last_seek;
  }
}

ZipReader::~ZipReader() = default;
ZipReader::ZipReader(ZipReader&&) noexcept = default;
ZipReader& ZipReader::operator=(ZipReader&&) noexcept = default;

const ZipEntry* ZipReader::find(std::string_view name) const {
  const auto it = std::find_if(entries_.begin(), entries_.end(),
                               [&](const ZipEntry& entry) { return entry.name == name; });
  return it == entries_.end() ? nullptr : &*it;
}

std::vector<uint8_t> ZipReader::read(std::string_view name) {
  const ZipEntry* entry = find(name);
  YOLO4_CHECK(entry, path_, ": zip archive has no entry '", name, "'");
  return read(*entry);
}

std::vector<uint8_t> ZipReader::read(const ZipEntry& entry) {
  YOLO4_CHECK(&entry >= entries_.data() && &entry < entries_.data() + entries_.size(),
              "ZipReader::read: entry '", entry.name, "' is not one of ", path_, "'s entries");
  check_claims(path_, entry);
  Archive& archive = *archive_;
  unzFile zip = archive.handle;
  archive.overrun.reset();
  const size_t index = static_cast<size_t>(&entry - entries_.data());
  YOLO4_CHECK(unzGoToFilePos64(zip, &archive.positions[index]) == UNZ_OK, path_,
              ": cannot return to the central directory entry of ", entry.name);
  if (unzOpenCurrentFile(zip) != UNZ_OK) {
    archive.check_overrun(path_, "the local header of " + entry.name);
    fail(path_, ": bad local header signature for ", entry.name, " at byte ",
         entry.local_header_offset,
         ", or a local header whose method, CRC, sizes or name length differ from the central "
         "directory's");
  }
  // Closed on every path; the CRC verdict comes from the close after a complete read.
  struct OpenEntry {
    unzFile zip;
    ~OpenEntry() {
      if (zip) unzCloseCurrentFile(zip);
    }
    int close() { return unzCloseCurrentFile(std::exchange(zip, nullptr)); }
  } open{zip};

  const uint64_t data_offset = unzGetCurrentFileZStreamPos64(zip);
  YOLO4_CHECK(data_offset <= archive.size && entry.compressed_size <= archive.size - data_offset,
              path_, ": truncated zip: data of ", entry.name, " needs bytes [", data_offset, ", ",
              data_offset + entry.compressed_size, ") but the file has ", archive.size, " bytes");
  std::vector<uint8_t> data(entry.uncompressed_size);
  uint64_t produced = 0;
  int status = 0;
  while (produced < data.size()) {
    const auto piece = static_cast<unsigned>(std::min(data.size() - produced, kReadPiece));
    status = unzReadCurrentFile(zip, data.data() + produced, piece);
    if (status <= 0) break;  // an error, or the entry ended early
    produced += static_cast<uint64_t>(status);
  }
  YOLO4_CHECK(produced == data.size(), path_, ": entry ", entry.name, " does not ",
              entry.method == kDeflated ? "inflate" : "read", " to its recorded ",
              entry.uncompressed_size, " bytes (", produced, " bytes out, minizip/zlib status ",
              status, ")");
  const int closed = open.close();
  YOLO4_CHECK(closed != UNZ_CRCERROR, path_, ": entry ", entry.name,
              " is corrupt: its CRC-32 differs from the recorded 0x", std::hex, entry.crc32);
  YOLO4_CHECK(closed == UNZ_OK, path_, ": entry ", entry.name, ": minizip error ", closed);
  return data;
}

}  // namespace yolo4
