// The zip reader of .pth checkpoints: central directory, zip64 records, local headers, stored and
// deflated entries.
#include "fuzz_util.h"
#include "yolo4/loaders/zip_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolo4;
  const std::string path = fuzz::write_scratch("zip_reader", {data, size});
  fuzz::expect_ok_or_error([&] {
    ZipReader zip(path);
    for (const ZipEntry& entry : zip.entries()) {
      fuzz::expect_ok_or_error([&] { zip.read(entry); });
    }
  });
  return 0;
}
