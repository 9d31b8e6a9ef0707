#include "yolo4/loaders/zip_reader.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>

#include "loaders/loader_test_util.h"

namespace yolo4 {
namespace {

using test::expect_error;
using test::TempDir;

std::vector<uint8_t> as_bytes(const std::string& text) {
  return {text.begin(), text.end()};
}

// Writes stored-only archives by hand, optionally with every size and offset moved to zip64
// extra fields and zip64 end records (Python only does that for files over 4 GiB).
class ZipBuilder {
 public:
  explicit ZipBuilder(bool zip64) : zip64_(zip64) {}

  void add(const std::string& name, const std::string& data) {
    const auto crc =
        static_cast<uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(data.data()), data.size()));
    const uint32_t offset = static_cast<uint32_t>(out_.size());
    put32(out_, 0x04034b50);
    put16(out_, 20), put16(out_, 0), put16(out_, 0), put32(out_, 0);
    put32(out_, crc), put32(out_, data.size()), put32(out_, data.size());
    put16(out_, name.size()), put16(out_, 0);
    append(out_, name), append(out_, data);

    const uint32_t marker = 0xffffffff;
    put32(directory_, 0x02014b50);
    put16(directory_, 45), put16(directory_, 45), put16(directory_, 0), put16(directory_, 0);
    put32(directory_, 0), put32(directory_, crc);
    put32(directory_, zip64_ ? marker : data.size());
    put32(directory_, zip64_ ? marker : data.size());
    put16(directory_, name.size()), put16(directory_, zip64_ ? 28 : 0), put16(directory_, 0);
    put16(directory_, 0), put16(directory_, 0), put32(directory_, 0);
    put32(directory_, zip64_ ? marker : offset);
    append(directory_, name);
    if (zip64_) {
      put16(directory_, 0x0001), put16(directory_, 24);
      put64(directory_, data.size()), put64(directory_, data.size()), put64(directory_, offset);
    }
    ++count_;
  }

  std::vector<uint8_t> finish() {
    std::vector<uint8_t> bytes = out_;
    const uint64_t directory_offset = bytes.size();
    bytes.insert(bytes.end(), directory_.begin(), directory_.end());
    if (zip64_) {
      const uint64_t end64_offset = bytes.size();
      put32(bytes, 0x06064b50), put64(bytes, 44), put16(bytes, 45), put16(bytes, 45);
      put32(bytes, 0), put32(bytes, 0), put64(bytes, count_), put64(bytes, count_);
      put64(bytes, directory_.size()), put64(bytes, directory_offset);
      put32(bytes, 0x07064b50), put32(bytes, 0), put64(bytes, end64_offset), put32(bytes, 1);
    }
    put32(bytes, 0x06054b50), put16(bytes, 0), put16(bytes, 0);
    put16(bytes, zip64_ ? 0xffff : count_), put16(bytes, zip64_ ? 0xffff : count_);
    put32(bytes, zip64_ ? 0xffffffff : directory_.size());
    put32(bytes, zip64_ ? 0xffffffff : directory_offset);
    put16(bytes, 0);
    return bytes;
  }

 private:
  static void put16(std::vector<uint8_t>& v, uint64_t x) { put(v, x, 2); }
  static void put32(std::vector<uint8_t>& v, uint64_t x) { put(v, x, 4); }
  static void put64(std::vector<uint8_t>& v, uint64_t x) { put(v, x, 8); }
  static void put(std::vector<uint8_t>& v, uint64_t x, int size) {
    for (int i = 0; i < size; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
  }
  static void append(std::vector<uint8_t>& v, const std::string& s) {
    v.insert(v.end(), s.begin(), s.end());
  }

  bool zip64_;
  std::vector<uint8_t> out_, directory_;
  uint16_t count_ = 0;
};

TEST(ZipReader, ReadsStoredAndDeflatedEntriesWrittenByPython) {
  TempDir dir;
  const std::string error = test::run_python(dir, R"(
import zipfile
with zipfile.ZipFile('a.zip', 'w') as z:
    z.writestr('stored.txt', 'hello zip', compress_type=zipfile.ZIP_STORED)
    z.writestr('dir/deflated.bin', bytes(range(256)) * 40, compress_type=zipfile.ZIP_DEFLATED)
    z.writestr('empty', b'')
    z.comment = b'an archive comment'
)");
  ASSERT_TRUE(error.empty()) << error;
  ZipReader zip(dir.path("a.zip"));
  ASSERT_EQ(zip.entries().size(), 3u);
  EXPECT_EQ(zip.entries()[1].name, "dir/deflated.bin");
  EXPECT_EQ(zip.entries()[1].method, 8);
  EXPECT_EQ(zip.read("stored.txt"), as_bytes("hello zip"));
  const auto inflated = zip.read("dir/deflated.bin");
  ASSERT_EQ(inflated.size(), 256u * 40);
  for (size_t i = 0; i < inflated.size(); ++i) ASSERT_EQ(inflated[i], i % 256);
  EXPECT_TRUE(zip.read("empty").empty());
  EXPECT_EQ(zip.find("missing"), nullptr);
  expect_error([&] { zip.read("missing"); }, {"a.zip", "no entry 'missing'"});
}

TEST(ZipReader, ReadsZip64Records) {
  TempDir dir;
  for (const bool zip64 : {false, true}) {
    ZipBuilder builder(zip64);
    builder.add("a", "first");
    builder.add("b/c", std::string(1000, 'x'));
    test::write_bytes(dir.path("z.zip"), builder.finish());
    ZipReader zip(dir.path("z.zip"));
    ASSERT_EQ(zip.entries().size(), 2u) << "zip64=" << zip64;
    EXPECT_EQ(zip.entries()[1].local_header_offset, 36u);
    EXPECT_EQ(zip.read("a"), as_bytes("first"));
    EXPECT_EQ(zip.read("b/c"), as_bytes(std::string(1000, 'x')));
  }
}

TEST(ZipReader, CorruptArchivesFailClearly) {
  TempDir dir;
  ZipBuilder builder(/*zip64=*/false);
  builder.add("name", "some data");
  const std::vector<uint8_t> good = builder.finish();
  const std::string path = dir.path("bad.zip");
  const size_t directory_offset = 30 + 4 + 9;

  auto bytes = good;
  bytes.erase(bytes.end() - 5, bytes.end());
  test::write_bytes(path, bytes);
  expect_error([&] { ZipReader{path}; }, {"bad.zip", "not a zip archive or truncated"});

  test::write_bytes(path, as_bytes("definitely not a zip archive, just some text"));
  expect_error([&] { ZipReader{path}; }, {"bad.zip", "no end-of-central-directory record"});

  bytes = good;
  bytes[directory_offset] = 'X';
  test::write_bytes(path, bytes);
  expect_error([&] { ZipReader{path}; }, {"bad.zip", "bad central directory signature"});

  bytes = good;
  bytes[0] = 'X';
  test::write_bytes(path, bytes);
  expect_error([&] { ZipReader(path).read("name"); }, {"bad.zip", "bad local header signature"});

  bytes = good;
  bytes[30 + 4 + 2] ^= 1;  // a data byte
  test::write_bytes(path, bytes);
  expect_error([&] { ZipReader(path).read("name"); }, {"bad.zip", "name", "corrupt", "CRC-32"});

  bytes = good;
  bytes[directory_offset + 10] = 12;  // compression method: bzip2
  test::write_bytes(path, bytes);
  expect_error([&] { ZipReader(path).read("name"); }, {"compression method 12"});

  bytes = good;
  bytes[directory_offset + 42] = 0xf0;  // local header offset past the end
  test::write_bytes(path, bytes);
  expect_error([&] { ZipReader(path).read("name"); }, {"bad.zip", "truncated zip", "file has"});

  expect_error([&] { ZipReader{dir.path("missing.zip")}; }, {"missing.zip", "cannot open"});
}

TEST(ZipReader, DeflateErrorsAreReported) {
  TempDir dir;
  const std::string error = test::run_python(dir, R"(
import zipfile
with zipfile.ZipFile('d.zip', 'w', compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr('x', b'abc' * 1000)
data = bytearray(open('d.zip', 'rb').read())
data[40] ^= 0xff  # inside the deflate stream
open('broken.zip', 'wb').write(data)
)");
  ASSERT_TRUE(error.empty()) << error;
  expect_error([&] { ZipReader(dir.path("broken.zip")).read("x"); }, {"broken.zip", "x"});
}

// A header that lies about the inflated size is refused before its buffer is allocated; the
// most compressible real data (zeros at deflate's best ratio) still reads.
TEST(ZipReader, ZipBombSizeClaimIsRefusedBeforeInflating) {
  TempDir dir;
  const std::string error = test::run_python(dir, R"(
import struct, zipfile
with zipfile.ZipFile('zeros.zip', 'w', compression=zipfile.ZIP_DEFLATED) as z:
    z.writestr('zeros', bytes(1000000))
data = bytearray(open('zeros.zip', 'rb').read())
central = data.rindex(b'PK\x01\x02')
data[central + 24:central + 28] = struct.pack('<I', 3000000000)
open('bomb.zip', 'wb').write(data)
)");
  ASSERT_TRUE(error.empty()) << error;
  EXPECT_EQ(ZipReader(dir.path("zeros.zip")).read("zeros"), std::vector<uint8_t>(1000000, 0));
  expect_error([&] { ZipReader(dir.path("bomb.zip")).read("zeros"); },
               {"bomb.zip", "zeros", "claims 3000000000 bytes", "zip bomb"});
}

// Found by fuzz_zip_reader: a deflated entry of 22 bytes claiming 738197760 (a 704 MiB
// allocation before the check above).
TEST(ZipReader, FuzzFindingDeflatedSizeClaim) {
  const std::string path =
      std::string(YOLO4_SOURCE_DIR) + "/tests/data/fuzz/zip_reader/zip_deflate_size_claim.zip";
  ZipReader zip(path);
  expect_error([&] { zip.read("stored.txt"); }, {"stored with 48 bytes", "recorded size is 52"});
  expect_error([&] { zip.read("deflated.txt"); },
               {"deflated.txt", "claims 738197760 bytes from 22 compressed bytes"});
}

}  // namespace
}  // namespace yolo4
