// Helpers for the loader tests: temp dirs, generating fixtures with Debian's python + torch,
// and checking error messages.
#pragma once

#include "test_env.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace yolo4::test {

// A fresh directory under the system temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "yolo4_loaders_XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string dir() const { return dir_.string(); }

 private:
  std::filesystem::path dir_;
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Debian's python has torch; the python3 on PATH may not.
inline constexpr const char* kTorchPython = "/usr/bin/python3";

inline bool torch_available() {
  static const bool available =
      std::system((std::string(kTorchPython) + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0;
  return available;
}

// Runs `script` with Debian's python in `dir`; returns "" on success, else the script's output.
inline std::string run_python(const std::string& dir, const std::string& script) {
  write_text(dir + "/gen.py", script);
  const std::string log = dir + "/gen.log";
  const std::string command = "cd '" + dir + "' && " + kTorchPython + " gen.py >'" + log + "' 2>&1";
  if (std::system(command.c_str()) == 0) return "";
  const auto bytes = read_bytes(log);
  return "python failed:\n" + std::string(bytes.begin(), bytes.end());
}
inline std::string run_python(const TempDir& dir, const std::string& script) {
  return run_python(dir.dir(), script);
}

// The files `script` writes into its working directory, generated once per build tree: CTest
// runs every test in its own process, and importing torch takes seconds. The directory is named
// after the script's hash and published by an atomic rename, so concurrent tests may race
// harmlessly.
struct PythonFixture {
  std::string dir;
  std::string skip;   // why the test should be skipped (no torch), or empty
  std::string error;  // the script's output when it failed, or empty
};

inline PythonFixture cached_python_fixture(const std::string& name, const std::string& script) {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(YOLO4_BINARY_DIR) / "loaders_fixtures";
  const fs::path target = root / (name + "_" + std::to_string(std::hash<std::string>{}(script)));
  PythonFixture fixture{target.string(), "", ""};
  if (fs::exists(target)) return fixture;
  if (!torch_available()) {
    fixture.skip = std::string(kTorchPython) + " has no torch";
    return fixture;
  }
  fs::create_directories(root);
  std::string scratch = (root / (name + "_tmp_XXXXXX")).string();
  if (mkdtemp(scratch.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  fixture.error = run_python(scratch, script);
  std::error_code ignored;
  if (fixture.error.empty()) fs::rename(scratch, target, ignored);  // a lost race is harmless
  fs::remove_all(scratch, ignored);
  return fixture;
}

// Skips the test without torch, fails it if the generator failed.
#define YOLO4_REQUIRE_FIXTURE(fixture)                           \
  do {                                                           \
    if (!(fixture).skip.empty()) GTEST_SKIP() << (fixture).skip; \
    ASSERT_TRUE((fixture).error.empty()) << (fixture).error;     \
  } while (0)

using test_env::shared_data_dir;

// The message of the yolo4::Error (or other exception) `f` throws, or "<no exception>".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no exception>";
}

// Expects `f` to throw with every one of `parts` in its message.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  const std::string message = error_of(f);
  for (const auto& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos)
        << "expected \"" << part << "\" in the error message: " << message;
  }
}

}  // namespace yolo4::test
