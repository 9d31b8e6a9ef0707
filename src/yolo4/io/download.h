// Weights on first use: download into the user's cache, resume, verify, and never touch a file
// the user put there by hand.
#pragma once

#include <cstdint>
#include <string>

#include "yolo4/output/progress.h"

namespace yolo4 {

struct DownloadSpec {
  std::string url;
  std::string file_name;  // name inside the cache directory
  int64_t size = 0;       // expected bytes
  std::string sha256;     // expected digest, lowercase hex
};

// The official yolov4.weights (AlexeyAB/darknet release); the environment variable
// YOLO4_WEIGHTS_URL replaces the URL (a mirror of the same file).
DownloadSpec yolov4_weights_spec();

// $XDG_CACHE_HOME/yolo4, or ~/.cache/yolo4 when XDG_CACHE_HOME is unset or not absolute.
std::string cache_dir();

struct DownloadOptions {
  std::string dir;                              // empty: cache_dir()
  ProgressMode progress = ProgressMode::kAuto;  // kNever also silences the "downloading" line
  long connect_timeout_seconds = 30;
  // Abort when slower than this many bytes/s for low_speed_seconds (a stalled connection).
  long low_speed_bytes_per_second = 1000;
  long low_speed_seconds = 60;
};

// The path of the verified file, downloading it first when missing. A file already there with
// the right size is checked once against the SHA-256 (a "<name>.sha256-ok" marker remembers the
// result for that size and mtime). Downloads go to "<name>.part", resume it with an HTTP Range
// request, and are renamed into place only after the size and SHA-256 match; "<name>.lock"
// serialises concurrent yolo4 processes. Throws yolo4::Error saying what failed, the URL, and
// where to place the file by hand.
std::string ensure_weights(const DownloadSpec& spec = yolov4_weights_spec(),
                           const DownloadOptions& options = {});

}  // namespace yolo4
