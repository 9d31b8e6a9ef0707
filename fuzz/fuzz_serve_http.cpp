// yolo4 serve's HTTP handling: each input is sent as raw bytes over one TCP connection to an
// in-process DetectionServer (cpp-httplib's request parsing, our routing, query parameters,
// multipart and raw bodies, image decoding, the detection queue, the JSON answers), then the
// client half-closes and reads until the server closes, so the request has been handled before
// the next input starts. The server runs a tiny network with random weights (kTinyCfg), so a
// decodable image costs well under a millisecond to detect.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>

#include "fuzz_util.h"
#include "yolo4/pipeline/detector.h"
#include "yolo4/serve/http_server.h"

namespace {

using namespace yolo4;

// 32x32 input, two convs and one [yolo] head of 2 classes.
constexpr const char* kTinyCfg = R"([net]
width=32
height=32
channels=3
[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky
[convolutional]
filters=21
size=1
stride=1
pad=0
activation=linear
[yolo]
mask=0,1,2
anchors=4,6, 10,12, 20,24
classes=2
num=3
)";

int start_server() {
  static std::unique_ptr<serve::DetectionServer> server;
  ModelSource source;
  const std::string cfg(kTinyCfg);
  source.cfg = fuzz::write_scratch("serve_http_cfg",
                                   {reinterpret_cast<const uint8_t*>(cfg.data()), cfg.size()});
  source.options = ModelOptions::preset("fp32");
  serve::ServerOptions options;
  options.port = 0;
  options.max_body_bytes = size_t{64} << 10;  // inputs are at most 8 KB; 413 stays reachable
  options.max_pixels = int64_t{1} << 16;
  options.request_timeout = std::chrono::milliseconds(5000);
  options.service.sessions = 1;
  options.service.max_queue = 2;
  options.service.threads_per_session = 1;
  server = std::make_unique<serve::DetectionServer>(load_detection_model(source), options);
  return server->start();
}

// libFuzzer's timeout alarm (SIGALRM every few seconds) interrupts blocking calls: an interrupted
// connect() goes on in the background, so wait for it and read its outcome.
bool connect_through_signals(int sock, const sockaddr_in& address) {
  if (::connect(sock, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0)
    return true;
  if (errno != EINTR) return false;
  pollfd writable{sock, POLLOUT, 0};
  while (::poll(&writable, 1, -1) < 0)
    if (errno != EINTR) return false;
  int error = 0;
  socklen_t length = sizeof error;
  if (::getsockopt(sock, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return false;
  errno = error;
  return error == 0;
}

// send/recv retried when a signal interrupts them before any byte moved.
template <class Call>
ssize_t retry_on_signal(Call call) {
  ssize_t n;
  do n = call();
  while (n < 0 && errno == EINTR);
  return n;
}

// Sends the request bytes, half-closes, and reads the answer until the server closes.
void exchange(int port, std::span<const uint8_t> request) {
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  if (sock < 0) __builtin_trap();
  // Closed connections linger in TIME_WAIT for 60 s, each holding a (source, destination) pair:
  // from one source address the ~28,000 ephemeral ports run out at this rate of executions, so
  // the source cycles through 127.0.0.2-127.0.0.251.
  static uint32_t connections = 0;
  sockaddr_in source{};
  source.sin_family = AF_INET;
  source.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + connections++ % 250);
  if (::bind(sock, reinterpret_cast<const sockaddr*>(&source), sizeof source) != 0) {
    std::perror("fuzz_serve_http: bind");
    __builtin_trap();
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(uint16_t(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!connect_through_signals(sock, address)) {
    std::perror("fuzz_serve_http: connect");  // the server stopped listening, or no port left
    __builtin_trap();
  }
  // The server may answer and close before reading everything (e.g. 413): a failed send is fine.
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = retry_on_signal(
        [&] { return ::send(sock, request.data() + sent, request.size() - sent, MSG_NOSIGNAL); });
    if (n <= 0) break;
    sent += size_t(n);
  }
  ::shutdown(sock, SHUT_WR);
  char buffer[4096];
  while (retry_on_signal([&] { return ::recv(sock, buffer, sizeof buffer, 0); }) > 0) {
  }
  ::close(sock);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int port = start_server();
  exchange(port, {data, size});
  return 0;
}
