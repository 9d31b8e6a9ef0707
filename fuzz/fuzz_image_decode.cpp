// The whole image path: header checks, completeness checks, OpenCV's decoders, conversion to the
// network input. Smaller limits than the defaults keep each execution fast; the limits
// themselves are what the header checks enforce, whatever their values.
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>

#include "fuzz_util.h"
#include "yolo4/io/image_input.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cv::setNumThreads(1);
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolo4;
  constexpr int kMaxSide = 4096;
  constexpr int64_t kMaxPixels = 4'000'000;
  const std::string path = fuzz::write_scratch("image_decode", {data, size});
  fuzz::expect_ok_or_error([&] {
    const cv::Mat image = read_image(path, kMaxSide, kMaxPixels);
    const ResizeMode mode = size % 2 ? ResizeMode::kLetterbox : ResizeMode::kPlain;
    make_network_input(image, 32, 24, mode, path);
  });
  return 0;
}
