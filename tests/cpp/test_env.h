// Where tests find things: CTest sets the environment (tests/cpp/test_environment.cpp gives the
// build's paths as defaults), and the fallbacks let a test binary run by hand from the build tree.
#pragma once

#include <cstdlib>
#include <string>

namespace yolo4::test_env {

inline std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && value[0] != '\0' ? value : fallback;
}

// The yolo4 binary.
inline std::string yolo4_bin() {
  return env_or("YOLO4_BIN", YOLO4_BINARY_DIR "/yolo4");
}

// The test data tests/python/make_testdata.py generates (CTest fixture yolo4_testdata).
inline std::string testdata_dir() {
  return env_or("YOLO4_TESTDATA", YOLO4_BINARY_DIR "/testdata");
}

// ../shared/data: yolov4.cfg, the sample images, the trained models.
inline std::string shared_data_dir() {
  return env_or("YOLO4_SHARED_DATA", YOLO4_SOURCE_DIR "/../shared/data");
}

}  // namespace yolo4::test_env
