// NumPy .npy files: magic, version, the header dict literal, the payload size.
#include "fuzz_util.h"
#include "yolo4/loaders/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolo4;
  const std::string path = yolo4::fuzz::write_scratch("npy", {data, size});
  fuzz::expect_ok_or_error([&] { read_npy(path); });
  return 0;
}
