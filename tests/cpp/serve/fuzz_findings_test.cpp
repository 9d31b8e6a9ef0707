// The inputs fuzz_serve_http found, replayed as raw bytes over a socket to a running server, as
// the fuzz target sends them: the server must keep answering.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "serve_test_util.h"

namespace yolo4::serve_test {
namespace {

const std::string kFindings = YOLO4_SOURCE_DIR "/tests/data/fuzz/serve_http";

// Whether `answer` holds a complete response: headers and Content-Length bytes of body.
bool complete_response(const std::string& answer) {
  const size_t end = answer.find("\r\n\r\n");
  const size_t length = answer.find("Content-Length: ");
  return end != std::string::npos && length != std::string::npos &&
         answer.size() >= end + 4 + std::stoul(answer.substr(length + 16));
}

// Sends `request` and returns what the server answers: one response, or everything until it
// closes. half_close: shut the sending side down after the request, so that an incomplete request
// ends there (httplib then answers nothing: it writes only to connections open both ways).
std::string exchange_raw(int port, const std::string& request, bool half_close) {
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(sock, 0);
  const timeval timeout{20, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(uint16_t(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(sock, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(::send(sock, request.data(), request.size(), MSG_NOSIGNAL), ssize_t(request.size()));
  if (half_close) ::shutdown(sock, SHUT_WR);
  std::string answer;
  char buffer[4096];
  for (ssize_t n; !complete_response(answer) && (n = ::recv(sock, buffer, sizeof buffer, 0)) > 0;) {
    answer.append(buffer, size_t(n));
  }
  ::close(sock);
  return answer;
}

// The method "GET\xd6" (method_not_utf8.http) made the error handler's JSON serialisation throw
// on the invalid UTF-8, outside any handler's try block: std::terminate, the whole server gone.
// Here as a complete request, so that the server answers at once.
TEST(ServeFuzzFindings, MethodThatIsNotUtf8GetsAJsonError) {
  RunningServer running(test_options(1, 2));
  const std::string answer =
      exchange_raw(running.port, "GET\xd6 /healthz HTTP/1.1\r\nHost: x\r\n\r\n", false);
  ASSERT_TRUE(answer.starts_with("HTTP/1.1 400 ")) << answer;
  const std::string body = answer.substr(answer.find("\r\n\r\n") + 4);
  const std::string reason = nlohmann::json::parse(body).at("error");
  EXPECT_TRUE(reason.starts_with("GET\xef\xbf\xbd")) << reason;  // U+FFFD for the bad byte
  const auto health = running.client().Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(ServeFuzzFindings, TheServerSurvivesEveryFinding) {
  RunningServer running(test_options(1, 2));
  for (const auto& entry : std::filesystem::directory_iterator(kFindings)) {
    SCOPED_TRACE(entry.path().string());
    exchange_raw(running.port, read_file(entry.path().string()), true);
    const auto health = running.client().Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
  }
}

}  // namespace
}  // namespace yolo4::serve_test
