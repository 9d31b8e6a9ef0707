// Helpers shared by the detect tests: temporary directories, test data paths, running the Python
// reference, and comparing detections.
#pragma once

#include "test_env.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "yolo4/postprocess/detection.h"

namespace yolo4::test {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "yolo4_detect_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

using test_env::env_or;
using test_env::shared_data_dir;

inline std::string reference_script() {
  return std::string(YOLO4_SOURCE_DIR) + "/tests/python/postprocess_ref.py";
}

inline std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs the Python reference (Debian's python3, which has numpy and cv2) with the given
// arguments; on failure the returned string holds its output, empty on success.
inline std::string run_reference(const std::string& arguments, const std::string& log_path) {
  const std::string command = "/usr/bin/python3 " + shell_quote(reference_script()) + " " +
                              arguments + " > " + shell_quote(log_path) + " 2>&1";
  const int status = std::system(command.c_str());
  if (status == 0) return "";
  return "command failed (status " + std::to_string(status) + "): " + command + "\n" +
         read_bytes(log_path);
}

// The [[class_id, score, x1, y1, x2, y2], ...] list under "key" in the reference's output.
inline std::vector<Detection> parse_reference_boxes(const std::string& json,
                                                    const std::string& key) {
  std::vector<Detection> boxes;
  size_t pos = json.find("\"" + key + "\"");
  if (pos == std::string::npos) throw std::runtime_error("no key " + key + " in reference output");
  pos = json.find('[', pos) + 1;  // the outer list
  while (true) {
    pos = json.find_first_of("[]", pos);
    if (pos == std::string::npos || json[pos] == ']') break;
    const char* cursor = json.c_str() + pos + 1;
    double values[6];
    for (double& value : values) {
      char* end = nullptr;
      value = std::strtod(cursor, &end);
      cursor = end;
      while (*cursor == ',' || *cursor == ' ') ++cursor;
    }
    boxes.push_back({static_cast<int>(values[0]), static_cast<float>(values[1]),
                     static_cast<float>(values[2]), static_cast<float>(values[3]),
                     static_cast<float>(values[4]), static_cast<float>(values[5])});
    pos = json.find(']', pos) + 1;
  }
  return boxes;
}

// Box for box: same class, score within 1e-5, corners within 1e-3 pixels.
inline void expect_same_detections(const std::vector<Detection>& actual,
                                   const std::vector<Detection>& expected,
                                   const std::string& context) {
  ASSERT_EQ(actual.size(), expected.size()) << context;
  for (size_t i = 0; i < actual.size(); ++i) {
    const Detection& a = actual[i];
    const Detection& e = expected[i];
    SCOPED_TRACE(context + ", detection " + std::to_string(i));
    EXPECT_EQ(a.class_id, e.class_id);
    EXPECT_NEAR(a.score, e.score, 1e-5);
    EXPECT_NEAR(a.x1, e.x1, 1e-3);
    EXPECT_NEAR(a.y1, e.y1, 1e-3);
    EXPECT_NEAR(a.x2, e.x2, 1e-3);
    EXPECT_NEAR(a.y2, e.y2, 1e-3);
  }
}

}  // namespace yolo4::test
