// The image header probes (PNG, JPEG, BMP, GIF, WebP, PNM, TIFF) that size an image before it
// is decoded.
#include "fuzz_util.h"
#include "yolo4/io/image_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolo4;
  const std::string path = fuzz::write_scratch("image_probe", {data, size});
  fuzz::expect_ok_or_error([&] { probe_image_size(path); });
  return 0;
}
