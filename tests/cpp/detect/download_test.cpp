// The weights downloader against a tiny HTTP/1.1 server on 127.0.0.1 run by the test itself, and
// SHA-256 against the FIPS 180-4 example vectors.
#include "yolo4/io/download.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "detect/detect_test_util.h"
#include "yolo4/core/error.h"
#include "yolo4/io/sha256.h"

namespace yolo4 {
namespace {

// ---------------------------------------------------------------------------------------------
// SHA-256.

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(
      sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmn"
                 "opqklmnopqrlmnopqrsmnopqrstnopqrstu"),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, ChunkingDoesNotMatter) {
  std::string data(1000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + 3);
  const std::string whole = sha256_hex(data);
  for (size_t chunk : {1, 3, 55, 56, 63, 64, 65, 127}) {
    Sha256 hash;
    for (size_t at = 0; at < data.size(); at += chunk) {
      hash.update(std::string_view(data).substr(at, chunk));
    }
    EXPECT_EQ(hash.finish_hex(), whole) << "chunks of " << chunk;
  }
}

TEST(Sha256, HashesFiles) {
  const test::TempDir dir;
  test::write_bytes(dir.file("abc"), "abc");
  EXPECT_EQ(sha256_file(dir.file("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_THROW(sha256_file(dir.file("missing")), Error);
}

// ---------------------------------------------------------------------------------------------
// A single-threaded HTTP/1.1 server on 127.0.0.1 (ephemeral port), one request per connection.

struct Route {
  int status = 200;
  std::string body;
  bool ranges = true;      // answer Range requests with 206
  int64_t cut_after = -1;  // send only this many body bytes, then close (Content-Length lies)
};

class TestHttpServer {
 public:
  explicit TestHttpServer(std::map<std::string, Route> routes) : routes_(std::move(routes)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listen_fd_, 8) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("test HTTP server: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;
  ~TestHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // Range header values received for path ("" for requests without one).
  std::vector<std::string> requests(const std::string& path) {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_[path];
  }

 private:
  // Bounded: polls for the stop flag and gives up after a minute whatever happens.
  void serve() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      pollfd waiting{listen_fd_, POLLIN, 0};
      if (::poll(&waiting, 1, 50) <= 0) continue;
      const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      timeval timeout{5, 0};
      ::setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
      ::setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
      handle(client);
      ::shutdown(client, SHUT_WR);
      ::close(client);
    }
  }

  static std::string read_request(int client) {
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      const ssize_t got = ::recv(client, buffer, sizeof buffer, 0);
      if (got <= 0) break;
      request.append(buffer, static_cast<size_t>(got));
    }
    return request;
  }

  static std::string header_value(const std::string& request, const std::string& name) {
    const size_t at = request.find("\r\n" + name + ": ");
    if (at == std::string::npos) return "";
    const size_t start = at + name.size() + 4;
    return request.substr(start, request.find("\r\n", start) - start);
  }

  static void send_all(int client, const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(client, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  static std::string status_line(int status) {
    static const std::map<int, std::string> reasons = {{200, "OK"},
                                                       {206, "Partial Content"},
                                                       {404, "Not Found"},
                                                       {416, "Range Not Satisfiable"},
                                                       {500, "Internal Server Error"}};
    return "HTTP/1.1 " + std::to_string(status) + " " + reasons.at(status) + "\r\n";
  }

  void handle(int client) {
    const std::string request = read_request(client);
    const size_t path_start = request.find(' ') + 1;
    const std::string path = request.substr(path_start, request.find(' ', path_start) - path_start);
    const std::string range = header_value(request, "Range");
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_[path].push_back(range);
    }
    const auto route = routes_.find(path);
    if (route == routes_.end() || route->second.status != 200) {
      const int status = route == routes_.end() ? 404 : route->second.status;
      send_all(client, status_line(status) + "Content-Length: 5\r\nConnection: close\r\n\r\nerror");
      return;
    }
    send_body(client, route->second, range);
  }

  static void send_body(int client, const Route& route, const std::string& range) {
    const auto size = static_cast<int64_t>(route.body.size());
    int64_t start = 0;
    std::string head = status_line(200);
    if (route.ranges && range.rfind("bytes=", 0) == 0) {
      start = std::stoll(range.substr(6));
      if (start >= size) {
        send_all(client, status_line(416) + "Content-Range: bytes */" + std::to_string(size) +
                             "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
      }
      head = status_line(206) + "Content-Range: bytes " + std::to_string(start) + "-" +
             std::to_string(size - 1) + "/" + std::to_string(size) + "\r\n";
    }
    head += "Content-Length: " + std::to_string(size - start) + "\r\nConnection: close\r\n\r\n";
    std::string body = route.body.substr(static_cast<size_t>(start));
    if (route.cut_after >= 0) body.resize(static_cast<size_t>(route.cut_after));
    send_all(client, head + body);
  }

  std::map<std::string, Route> routes_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> requests_;
};

// ---------------------------------------------------------------------------------------------
// Downloader.

std::string random_bytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  return bytes;
}

class DownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Whatever proxy the environment names, these requests must go straight to 127.0.0.1.
    ::setenv("no_proxy", "127.0.0.1", 1);
    ::setenv("NO_PROXY", "127.0.0.1", 1);
    options_.dir = cache_.file("cache");
    options_.progress = ProgressMode::kNever;
    options_.connect_timeout_seconds = 5;
    options_.low_speed_seconds = 10;
  }

  DownloadSpec spec_for(const std::string& url) const {
    return {url, "test.weights", static_cast<int64_t>(body_.size()), sha256_hex(body_)};
  }
  std::string final_path() const { return options_.dir + "/test.weights"; }
  std::string part_path() const { return final_path() + ".part"; }

  // The yolo4::Error message of ensure_weights, checked to name the URL and the manual path.
  std::string failure(const DownloadSpec& spec) {
    try {
      ensure_weights(spec, options_);
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(spec.url), std::string::npos) << message;
      EXPECT_NE(message.find("place it at " + final_path()), std::string::npos) << message;
      return message;
    }
    ADD_FAILURE() << "ensure_weights succeeded for " << spec.url;
    return "";
  }

  const std::string body_ = random_bytes(300000, 42);
  test::TempDir cache_;
  DownloadOptions options_;
};

TEST_F(DownloadTest, DownloadsVerifiesAndReusesTheFile) {
  TestHttpServer server({{"/w", {200, body_}}});
  const DownloadSpec spec = spec_for(server.url("/w"));
  EXPECT_EQ(ensure_weights(spec, options_), final_path());
  EXPECT_EQ(test::read_bytes(final_path()), body_);
  EXPECT_FALSE(std::filesystem::exists(part_path()));
  EXPECT_TRUE(std::filesystem::exists(final_path() + ".sha256-ok"));
  // The second call finds the verified file and does not ask the server again.
  EXPECT_EQ(ensure_weights(spec, options_), final_path());
  EXPECT_EQ(server.requests("/w").size(), 1u);
}

TEST_F(DownloadTest, ResumesAPartialDownloadWithARangeRequest) {
  TestHttpServer server({{"/w", {200, body_}}});
  std::filesystem::create_directories(options_.dir);
  test::write_bytes(part_path(), body_.substr(0, 123456));
  EXPECT_EQ(ensure_weights(spec_for(server.url("/w")), options_), final_path());
  EXPECT_EQ(test::read_bytes(final_path()), body_);
  EXPECT_EQ(server.requests("/w"), std::vector<std::string>{"bytes=123456-"});
}

TEST_F(DownloadTest, StartsOverWhenTheServerIgnoresTheRange) {
  TestHttpServer server({{"/w", {200, body_, /*ranges=*/false}}});
  std::filesystem::create_directories(options_.dir);
  test::write_bytes(part_path(), body_.substr(0, 1000));
  EXPECT_EQ(ensure_weights(spec_for(server.url("/w")), options_), final_path());
  EXPECT_EQ(test::read_bytes(final_path()), body_);
}

TEST_F(DownloadTest, CompletePartWithWrongContentIsRemoved) {
  // A .part as long as the file is hashed without asking the server; ours and wrong, so it goes,
  // and the next run downloads afresh.
  TestHttpServer server({{"/w", {200, body_}}});
  std::filesystem::create_directories(options_.dir);
  test::write_bytes(part_path(), random_bytes(body_.size(), 7));
  const std::string message = failure(spec_for(server.url("/w")));
  EXPECT_NE(message.find("sha256"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(part_path()));
  EXPECT_EQ(ensure_weights(spec_for(server.url("/w")), options_), final_path());
}

TEST_F(DownloadTest, TruncatedTransferKeepsThePartForTheNextRun) {
  TestHttpServer server({{"/cut", {200, body_, true, 100000}}, {"/w", {200, body_}}});
  const std::string message = failure(spec_for(server.url("/cut")));
  EXPECT_NE(message.find("100000 of 300000 bytes"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(final_path()));
  EXPECT_EQ(std::filesystem::file_size(part_path()), 100000u);
  // The next run (here from a working mirror) resumes where the cut transfer stopped.
  EXPECT_EQ(ensure_weights(spec_for(server.url("/w")), options_), final_path());
  EXPECT_EQ(test::read_bytes(final_path()), body_);
  EXPECT_EQ(server.requests("/w"), std::vector<std::string>{"bytes=100000-"});
}

TEST_F(DownloadTest, WrongChecksumLeavesNothingBehind) {
  TestHttpServer server({{"/w", {200, random_bytes(body_.size(), 9)}}});
  const std::string message = failure(spec_for(server.url("/w")));
  EXPECT_NE(message.find("sha256"), std::string::npos) << message;
  EXPECT_NE(message.find(sha256_hex(body_)), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(final_path()));
  EXPECT_FALSE(std::filesystem::exists(part_path()));
}

TEST_F(DownloadTest, WrongSizeFromTheServerIsRejected) {
  TestHttpServer server({{"/w", {200, body_ + "extra"}}});
  const std::string message = failure(spec_for(server.url("/w")));
  EXPECT_NE(message.find("300005 bytes"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(final_path()));
}

TEST_F(DownloadTest, HttpErrorsAreReported) {
  TestHttpServer server({{"/broken", {500, ""}}});
  EXPECT_NE(failure(spec_for(server.url("/missing"))).find("HTTP 404"), std::string::npos);
  EXPECT_NE(failure(spec_for(server.url("/broken"))).find("HTTP 500"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(final_path()));
  EXPECT_FALSE(std::filesystem::exists(part_path()));  // nothing received, nothing to resume
}

TEST_F(DownloadTest, UnreachableServerIsReported) {
  std::string url;
  {
    TestHttpServer closed({});
    url = closed.url("/w");
  }  // nothing listens on that port any more
  const std::string message = failure(spec_for(url));
  EXPECT_NE(message.find("onnect"), std::string::npos) << message;  // "Couldn't connect"
}

TEST_F(DownloadTest, HandPlacedFileWithBadChecksumIsKept) {
  TestHttpServer server({{"/w", {200, body_}}});
  std::filesystem::create_directories(options_.dir);
  const std::string placed = random_bytes(body_.size(), 11);
  test::write_bytes(final_path(), placed);
  const std::string message = failure(spec_for(server.url("/w")));
  EXPECT_NE(message.find("left untouched"), std::string::npos) << message;
  EXPECT_EQ(test::read_bytes(final_path()), placed);
  EXPECT_TRUE(server.requests("/w").empty());
  // Wrong size: same.
  test::write_bytes(final_path(), "short");
  EXPECT_NE(failure(spec_for(server.url("/w"))).find("has 5 bytes"), std::string::npos);
  EXPECT_EQ(test::read_bytes(final_path()), "short");
}

TEST_F(DownloadTest, HandPlacedGoodFileIsAcceptedAndTheMarkerTrusted) {
  std::filesystem::create_directories(options_.dir);
  test::write_bytes(final_path(), body_);
  const DownloadSpec spec = spec_for("http://127.0.0.1:9/never-used");
  EXPECT_EQ(ensure_weights(spec, options_), final_path());
  // Same size and mtime: the marker says verified, so the content is not hashed again.
  struct stat before {};
  ASSERT_EQ(::stat(final_path().c_str(), &before), 0);
  test::write_bytes(final_path(), random_bytes(body_.size(), 5));
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, final_path().c_str(), times, 0), 0);
  EXPECT_EQ(ensure_weights(spec, options_), final_path());
  // A new mtime invalidates the marker: hashed, rejected, kept.
  const timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  ASSERT_EQ(::utimensat(AT_FDCWD, final_path().c_str(), now, 0), 0);
  EXPECT_NE(failure(spec).find("left untouched"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(final_path()));
}

// ---------------------------------------------------------------------------------------------
// Defaults and environment.

// Sets an environment variable for one scope, restoring the old value afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(DownloadSpecTest, OfficialWeightsAndUrlOverride) {
  {
    const ScopedEnv unset("YOLO4_WEIGHTS_URL", nullptr);
    const DownloadSpec spec = yolov4_weights_spec();
    EXPECT_EQ(spec.url,
              "https://github.com/AlexeyAB/darknet/releases/download/darknet_yolo_v3_optimal/"
              "yolov4.weights");
    EXPECT_EQ(spec.file_name, "yolov4.weights");
    EXPECT_EQ(spec.size, 257717640);
    EXPECT_EQ(spec.sha256, "e8a4f6c62188738d86dc6898d82724ec0964d0eb9d2ae0f0a9d53d65d108d562");
  }
  const ScopedEnv mirror("YOLO4_WEIGHTS_URL", "http://127.0.0.1:1/mirror/yolov4.weights");
  EXPECT_EQ(yolov4_weights_spec().url, "http://127.0.0.1:1/mirror/yolov4.weights");
  EXPECT_EQ(yolov4_weights_spec().size, 257717640);
}

TEST(DownloadSpecTest, CacheDirFollowsXdg) {
  {
    const ScopedEnv xdg("XDG_CACHE_HOME", "/tmp/some-cache");
    EXPECT_EQ(cache_dir(), "/tmp/some-cache/yolo4");
  }
  const ScopedEnv home("HOME", "/home/someone");
  {
    const ScopedEnv relative("XDG_CACHE_HOME", "relative/cache");  // ignored per the XDG spec
    EXPECT_EQ(cache_dir(), "/home/someone/.cache/yolo4");
  }
  const ScopedEnv unset("XDG_CACHE_HOME", nullptr);
  EXPECT_EQ(cache_dir(), "/home/someone/.cache/yolo4");
}

TEST_F(DownloadTest, DefaultDirectoryIsTheCacheAndTheUrlComesFromTheEnvironment) {
  TestHttpServer server({{"/mirror/test.weights", {200, body_}}});
  const ScopedEnv xdg("XDG_CACHE_HOME", cache_.path().c_str());
  const ScopedEnv url("YOLO4_WEIGHTS_URL", server.url("/mirror/test.weights").c_str());
  DownloadSpec spec = yolov4_weights_spec();  // the environment's URL ...
  spec.file_name = "test.weights";            // ... with the test file's identity
  spec.size = static_cast<int64_t>(body_.size());
  spec.sha256 = sha256_hex(body_);
  DownloadOptions options;
  options.progress = ProgressMode::kNever;
  EXPECT_EQ(ensure_weights(spec, options), cache_.path() + "/yolo4/test.weights");
  EXPECT_EQ(server.requests("/mirror/test.weights").size(), 1u);
}

TEST(DownloadSpecTest, RejectsMalformedSpecs) {
  DownloadOptions options;
  options.dir = "/nonexistent";
  EXPECT_THROW(ensure_weights({"http://x/", "a/b", 1, std::string(64, 'a')}, options), Error);
  EXPECT_THROW(ensure_weights({"http://x/", "w", 0, std::string(64, 'a')}, options), Error);
  EXPECT_THROW(ensure_weights({"http://x/", "w", 1, "ABC"}, options), Error);
  EXPECT_THROW(ensure_weights({"", "w", 1, std::string(64, 'a')}, options), Error);
}

}  // namespace
}  // namespace yolo4
