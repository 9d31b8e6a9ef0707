#include "yolo4/io/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pwd.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>

#include "yolo4/core/error.h"
#include "yolo4/io/sha256.h"

namespace yolo4 {
namespace {

constexpr const char* kMarkerSuffix = ".sha256-ok";
constexpr const char* kPartSuffix = ".part";
constexpr const char* kLockSuffix = ".lock";

std::string mb(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return text;
}

std::string manual_hint(const DownloadSpec& spec, const std::string& path) {
  return detail::concat("To install it by hand, download ", spec.url, " (", spec.size,
                        " bytes, sha256 ", spec.sha256, ") and place it at ", path,
                        ", e.g.: curl -L -o '", path, "' '", spec.url, "'");
}

[[noreturn]] void fail_download(const DownloadSpec& spec, const std::string& path,
                                const std::string& what) {
  fail("could not download ", spec.file_name, " from ", spec.url, ": ", what, ".\n",
       manual_hint(spec, path));
}

void check_spec(const DownloadSpec& spec) {
  YOLO4_CHECK(!spec.url.empty(), "download: no URL given for ", spec.file_name);
  YOLO4_CHECK(!spec.file_name.empty() && spec.file_name.find('/') == std::string::npos &&
                  spec.file_name != "." && spec.file_name != "..",
              "download: file name '", spec.file_name, "' must be a plain file name");
  YOLO4_CHECK(spec.size > 0, "download: expected size of ", spec.file_name, " must be positive");
  YOLO4_CHECK(spec.sha256.size() == 64 &&
                  spec.sha256.find_first_not_of("0123456789abcdef") == std::string::npos,
              "download: sha256 of ", spec.file_name, " must be 64 lowercase hex digits, got '",
              spec.sha256, "'");
}

// Size and modification time identify a file's content well enough to skip rehashing 250 MB.
struct FileStamp {
  int64_t size;
  int64_t mtime_ns;
};

std::optional<FileStamp> file_stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{static_cast<int64_t>(st.st_size),
                   static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

std::string marker_text(const FileStamp& stamp, const std::string& sha256) {
  return detail::concat(stamp.size, " ", stamp.mtime_ns, " ", sha256, "\n");
}

bool marker_matches(const std::string& path, const FileStamp& stamp, const std::string& sha256) {
  std::ifstream in(path + kMarkerSuffix);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text == marker_text(stamp, sha256);
}

// Best effort: without the marker the next run just hashes again.
void write_marker(const std::string& path, const std::string& sha256) {
  if (auto stamp = file_stamp(path)) {
    std::ofstream(path + kMarkerSuffix) << marker_text(*stamp, sha256);
  }
}

// A file at the final path came from a verified download or from the user; either way it is not
// ours to delete, so a mismatch is reported and the file left alone.
[[noreturn]] void fail_existing(const DownloadSpec& spec, const std::string& path,
                                const std::string& what) {
  fail(path, " ", what, ", so it is not ", spec.file_name, " from ", spec.url,
       ". It was left untouched: replace it with the right file, or delete it so that yolo4 "
       "downloads it again.\n",
       manual_hint(spec, path));
}

void verify_existing(const DownloadSpec& spec, const std::string& path, const FileStamp& stamp) {
  if (stamp.size != spec.size) {
    fail_existing(spec, path, detail::concat("has ", stamp.size, " bytes, expected ", spec.size));
  }
  if (marker_matches(path, stamp, spec.sha256)) return;
  const std::string actual = sha256_file(path);
  if (actual != spec.sha256) {
    fail_existing(spec, path, detail::concat("has sha256 ", actual, ", expected ", spec.sha256));
  }
  write_marker(path, spec.sha256);
}

// Serialises concurrent yolo4 processes fetching the same file (released on destruction). The
// lock file stays: deleting it would let a waiting process lock a different inode.
class FileLock {
 public:
  FileLock(const DownloadSpec& spec, const std::string& path, bool announce) {
    const std::string lock_path = path + kLockSuffix;
    fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      fail_download(spec, path,
                    detail::concat("cannot create ", lock_path, " (", std::strerror(errno), ")"));
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    if (announce) {
      std::cerr << "yolo4: waiting for another yolo4 process to finish " << path << std::endl;
    }
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock() { ::close(fd_); }

 private:
  int fd_ = -1;
};

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// State shared with libcurl's callbacks during one request.
struct Transfer {
  std::FILE* file = nullptr;
  int64_t offset = 0;  // bytes of the .part file kept from an earlier run
  int64_t received = 0;
  int64_t range_start = -1;  // from Content-Range
  bool response_checked = false;
  std::string error;  // set by a callback that aborted the transfer
  std::string part_path;
  CURL* curl = nullptr;
  ProgressBar* progress = nullptr;
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) t.range_start = -1;  // a new response (after a redirect)
  constexpr std::string_view kContentRange = "content-range:";
  if (line.size() > kContentRange.size() &&
      strncasecmp(line.c_str(), kContentRange.data(), kContentRange.size()) == 0) {
    long long start = -1;
    if (std::sscanf(line.c_str() + kContentRange.size(), " bytes %lld-", &start) == 1) {
      t.range_start = start;
    }
  }
  return size * count;
}

// A server may ignore the Range request and send the whole file (200): start the file over.
bool accept_response(Transfer& t) {
  long code = 0;
  curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &code);
  if (t.offset == 0) return true;
  if (code == 206) {
    if (t.range_start == t.offset) return true;
    t.error = detail::concat("asked to resume at byte ", t.offset,
                             " but the server sent from byte ", t.range_start);
    return false;
  }
  if (code == 200) {
    std::fflush(t.file);
    if (::ftruncate(fileno(t.file), 0) != 0) {
      t.error = detail::concat("cannot truncate ", t.part_path, " (", std::strerror(errno), ")");
      return false;
    }
    t.offset = 0;
  }
  return true;  // other protocols (file://) honour the range themselves
}

size_t on_write(char* data, size_t size, size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  if (!t.response_checked) {
    t.response_checked = true;
    if (!accept_response(t)) return 0;
  }
  const size_t bytes = size * count;
  if (std::fwrite(data, 1, bytes, t.file) != bytes) {
    t.error = detail::concat("cannot write ", t.part_path, " (", std::strerror(errno), ")");
    return 0;
  }
  t.received += static_cast<int64_t>(bytes);
  t.progress->update(t.offset + t.received);
  return bytes;
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};

void set_curl_options(CURL* curl, const DownloadSpec& spec, const DownloadOptions& options,
                      Transfer& t, char* error_buffer) {
  curl_easy_setopt(curl, CURLOPT_URL, spec.url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);        // no SIGALRM in a threaded program
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);  // GitHub releases redirect to a CDN
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https,file");  // file:// for local mirrors
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "yolo4");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_seconds);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, options.low_speed_bytes_per_second);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, options.low_speed_seconds);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
}

enum class TransferResult { kDone, kRestart };

// Why a request failed, for the error message; what was received stays in the .part file.
std::string describe_failure(CURLcode code, const char* error_buffer, const Transfer& t,
                             const DownloadSpec& spec) {
  std::string what = curl_easy_strerror(code);
  if (error_buffer[0] != '\0') what += detail::concat(" (", error_buffer, ")");
  if (t.offset + t.received > 0) {
    what += detail::concat("; received ", t.offset + t.received, " of ", spec.size,
                           " bytes, kept in ", t.part_path, " to resume on the next run");
  }
  return what;
}

// One request appending to the .part file from offset, its current size.
TransferResult transfer(const DownloadSpec& spec, const std::string& path, const std::string& part,
                        int64_t offset, const DownloadOptions& options) {
  init_curl_once();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  YOLO4_CHECK(curl, "download: cannot initialise libcurl");
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(part.c_str(), "ab"));
  if (!file) {
    fail_download(spec, path,
                  detail::concat("cannot create ", part, " (", std::strerror(errno), ")"));
  }
  ProgressOptions progress_options;
  progress_options.label = spec.file_name;
  progress_options.bytes = true;
  progress_options.mode = options.progress;
  ProgressBar progress(spec.size, progress_options);
  Transfer t;
  t.file = file.get();
  t.offset = offset;
  t.part_path = part;
  t.curl = curl.get();
  t.progress = &progress;
  char error_buffer[CURL_ERROR_SIZE] = {};
  set_curl_options(curl.get(), spec, options, t, error_buffer);
  const std::string range = detail::concat(offset, "-");
  if (offset > 0) curl_easy_setopt(curl.get(), CURLOPT_RANGE, range.c_str());

  const CURLcode code = curl_easy_perform(curl.get());
  progress.finish();
  const int close_error = std::fclose(file.release()) == 0 ? 0 : errno;
  if (t.offset + t.received == 0) std::remove(part.c_str());  // nothing to resume
  if (!t.error.empty()) fail_download(spec, path, t.error);
  if (code == CURLE_HTTP_RETURNED_ERROR) {
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status == 416 && offset > 0) return TransferResult::kRestart;  // stale .part
    fail_download(spec, path, detail::concat("the server answered HTTP ", status));
  }
  if (code != CURLE_OK) fail_download(spec, path, describe_failure(code, error_buffer, t, spec));
  if (close_error != 0) {
    fail_download(spec, path,
                  detail::concat("cannot write ", part, " (", std::strerror(close_error), ")"));
  }
  return TransferResult::kDone;
}

int64_t file_size_or_zero(const std::string& path) {
  auto stamp = file_stamp(path);
  return stamp ? stamp->size : 0;
}

// Brings the .part file to the expected size; a server refusing the resume range gets one fresh
// attempt.
void fetch_part(const DownloadSpec& spec, const std::string& path, const std::string& part,
                const DownloadOptions& options) {
  const bool announce = options.progress != ProgressMode::kNever;
  for (int attempt = 0; attempt < 2; ++attempt) {
    int64_t offset = file_size_or_zero(part);
    if (offset > spec.size) {
      std::remove(part.c_str());  // ours, and longer than the file can be
      offset = 0;
    }
    if (offset == spec.size) return;  // complete from an earlier run: just verify it
    if (announce) {
      std::cerr << "yolo4: downloading " << spec.file_name << " (" << mb(spec.size) << ") from "
                << spec.url << "\n       to " << path;
      if (offset > 0) std::cerr << " (resuming at " << mb(offset) << ")";
      std::cerr << std::endl;
    }
    if (transfer(spec, path, part, offset, options) == TransferResult::kDone) return;
    std::remove(part.c_str());
  }
  fail_download(spec, path, "the server refused to resume and to restart the transfer");
}

void verify_part(const DownloadSpec& spec, const std::string& path, const std::string& part) {
  const int64_t got = file_size_or_zero(part);
  if (got < spec.size) {
    fail_download(spec, path,
                  detail::concat("the transfer ended after ", got, " of ", spec.size, " bytes; ",
                                 part, " is kept and the next run resumes it"));
  }
  if (got > spec.size) {
    std::remove(part.c_str());
    fail_download(spec, path,
                  detail::concat("the server sent ", got, " bytes, expected ", spec.size,
                                 ": not the expected file (removed ", part, ")"));
  }
  const std::string actual = sha256_file(part);
  if (actual != spec.sha256) {
    std::remove(part.c_str());
    fail_download(spec, path,
                  detail::concat("the downloaded data has sha256 ", actual, ", expected ",
                                 spec.sha256, " (removed ", part, ")"));
  }
}

}  // namespace

DownloadSpec yolov4_weights_spec() {
  DownloadSpec spec{
      "https://github.com/AlexeyAB/darknet/releases/download/darknet_yolo_v3_optimal/"
      "yolov4.weights",
      "yolov4.weights", 257717640,
      "e8a4f6c62188738d86dc6898d82724ec0964d0eb9d2ae0f0a9d53d65d108d562"};
  if (const char* url = std::getenv("YOLO4_WEIGHTS_URL"); url != nullptr && url[0] != '\0') {
    spec.url = url;
  }
  return spec;
}

std::string cache_dir() {
  // The XDG base directory spec says to ignore relative paths.
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && xdg[0] == '/') {
    return std::string(xdg) + "/yolo4";
  }
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] == '\0') {
    const passwd* user = ::getpwuid(::getuid());
    home = user != nullptr ? user->pw_dir : nullptr;
  }
  YOLO4_CHECK(home != nullptr && home[0] != '\0',
              "cache_dir: neither XDG_CACHE_HOME nor HOME is set, and the user has no home "
              "directory; set XDG_CACHE_HOME to a writable directory");
  return std::string(home) + "/.cache/yolo4";
}

std::string ensure_weights(const DownloadSpec& spec, const DownloadOptions& options) {
  check_spec(spec);
  const std::string dir = options.dir.empty() ? cache_dir() : options.dir;
  const std::string path = dir + "/" + spec.file_name;
  if (auto stamp = file_stamp(path)) {
    verify_existing(spec, path, *stamp);
    return path;
  }
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    fail_download(spec, path, detail::concat("cannot create ", dir, " (", error.message(), ")"));
  }

  const FileLock lock(spec, path, options.progress != ProgressMode::kNever);
  if (auto stamp = file_stamp(path)) {  // another process finished while we waited
    verify_existing(spec, path, *stamp);
    return path;
  }
  const std::string part = path + kPartSuffix;
  fetch_part(spec, path, part, options);
  verify_part(spec, path, part);
  if (std::rename(part.c_str(), path.c_str()) != 0) {
    fail_download(
        spec, path,
        detail::concat("cannot rename ", part, " to ", path, " (", std::strerror(errno), ")"));
  }
  write_marker(path, spec.sha256);
  return path;
}

}  // namespace yolo4
