// Helpers of the yolo4 command-line tests: run the real binary in a temporary directory, read
// its outputs, and read its JSON through tests/cpp/app/detect_json.py (Python's json module).
#pragma once

#include "test_env.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace yolo4::app_test {

namespace fs = std::filesystem;

using test_env::env_or;
using test_env::shared_data_dir;
using test_env::testdata_dir;
using test_env::yolo4_bin;

inline std::string sample_image(const std::string& name) {
  return shared_data_dir() + "/images/" + name;
}
inline std::string random_checkpoint() {
  return testdata_dir() + "/yolov4_random.pth";
}
inline const char* kPython = "/usr/bin/python3";

// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "yolo4_app_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// A shell word: 'text' with embedded single quotes escaped.
inline std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

struct RunResult {
  int exit_code = -1;  // -1: killed by a signal
  std::string out, err;
};

// Runs a shell command with stdout and stderr captured through files in `dir`.
inline RunResult run_shell(const std::string& command, const TempDir& dir) {
  const std::string out = dir / ".stdout", err = dir / ".stderr";
  const int status = std::system((command + " >" + quote(out) + " 2>" + quote(err)).c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

// yolo4 with the given arguments (each quoted), run in `dir`; env_prefix: "NAME=value ...".
inline RunResult run_yolo4(const std::vector<std::string>& args, const TempDir& dir,
                           const std::string& env_prefix = "") {
  std::string command = "cd ";
  command += quote(dir.path().string());
  command += " && ";
  command += env_prefix;
  command += " ";
  command += quote(yolo4_bin());
  for (const std::string& a : args) command.append(" ").append(quote(a));
  return run_shell(command, dir);
}

inline std::string describe(const RunResult& r) {
  return "exit code " + std::to_string(r.exit_code) + "\n--- stdout:\n" + r.out.substr(0, 4000) +
         "\n--- stderr:\n" + r.err.substr(0, 4000);
}

struct Box {
  int class_id = -1;
  double score = 0, x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

struct ImageEntry {
  std::optional<long> frame;
  int width = 0, height = 0;
  std::string image;
  std::vector<Box> boxes;
};

// Parses the DET / IMG lines of detect_json.py; boxes before any IMG line go to one entry.
inline std::vector<ImageEntry> parse_lines(const std::string& text) {
  std::vector<ImageEntry> entries;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string tag;
    words >> tag;
    if (tag == "IMG") {
      ImageEntry e;
      std::string frame;
      size_t count = 0;
      words >> frame >> e.width >> e.height >> count >> std::ws;
      if (frame != "-") e.frame = std::stol(frame);
      std::getline(words, e.image);
      entries.push_back(e);
    } else if (tag == "DET") {
      Box b;
      words >> b.class_id >> b.score >> b.x1 >> b.y1 >> b.x2 >> b.y2;
      if (entries.empty()) entries.emplace_back();
      entries.back().boxes.push_back(b);
    }
  }
  return entries;
}

inline std::string detect_json_tool() {
  return YOLO4_SOURCE_DIR "/tests/cpp/app/detect_json.py";
}

// Validates a `yolo4 detect --json` file with Python's json module and the schema checks of
// detect_json.py; fails the test (and returns nothing) when it does not pass.
inline std::vector<ImageEntry> read_detect_json(const std::string& path, const TempDir& dir) {
  const RunResult r = run_shell(
      std::string(kPython) + " " + quote(detect_json_tool()) + " check " + quote(path), dir);
  EXPECT_EQ(r.exit_code, 0) << "JSON check of " << path << " failed: " << r.err;
  if (r.exit_code != 0) return {};
  return parse_lines(r.out);
}

inline bool have_random_checkpoint() {
  return fs::exists(random_checkpoint());
}

// Skips the calling test when the random checkpoint (a CTest fixture) is missing.
#define REQUIRE_CHECKPOINT()                                                 \
  do {                                                                       \
    if (!have_random_checkpoint()) {                                         \
      GTEST_SKIP() << "needs the random checkpoint " << random_checkpoint(); \
    }                                                                        \
  } while (0)

}  // namespace yolo4::app_test
