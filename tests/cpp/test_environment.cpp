// Linked into every test executable: gives the tests the paths CMake knows (the yolo4 binary,
// the generated test data, ../shared/data) unless the environment already names them.
#include <cstdlib>

namespace {
const bool kEnvironmentSet = [] {
  setenv("YOLO4_BIN", YOLO4_TEST_BIN, 0);
  setenv("YOLO4_TESTDATA", YOLO4_TEST_TESTDATA, 0);
  setenv("YOLO4_SHARED_DATA", YOLO4_TEST_SHARED_DATA, 0);
  return true;
}();
}  // namespace
