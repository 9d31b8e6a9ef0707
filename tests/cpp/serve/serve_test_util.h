// Helpers of the in-process yolo4 serve tests: the trained Yolo-Fastest-XL model (loaded once per
// test executable), the sample images, and a server on a free localhost port.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "yolo4/pipeline/detector.h"
#include "yolo4/serve/http_server.h"

namespace yolo4::serve_test {

inline std::string shared_data_dir() {
  const char* dir = std::getenv("YOLO4_SHARED_DATA");
  return dir != nullptr && dir[0] != '\0' ? dir : YOLO4_SOURCE_DIR "/../shared/data";
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// dog.jpg: 768x576, a dog, a bicycle and a car.
inline const std::string& dog_jpeg() {
  static const std::string bytes = read_file(shared_data_dir() + "/images/dog.jpg");
  return bytes;
}

// Yolo-Fastest-XL (COCO, 320x320) with its trained weights: small enough to run many requests in
// a test, good enough to find dog.jpg's objects.
inline std::shared_ptr<const DetectionModel> trained_model() {
  static const auto model = [] {
    ModelSource source;
    source.cfg = shared_data_dir() + "/models/yolo-fastest-1.1-xl.cfg";
    source.weights = shared_data_dir() + "/models/yolo-fastest-1.1-xl.weights";
    source.options = ModelOptions::preset("fp32");
    return load_detection_model(source);
  }();
  return model;
}

// The test servers' body limit: dog.jpg as BMP (1.3 MB) fits.
inline constexpr size_t kTestMaxBody = size_t{2} << 20;

// Options for a small test server: a free port, one thread per session.
inline serve::ServerOptions test_options(int sessions, int max_queue) {
  serve::ServerOptions o;
  o.port = 0;
  o.max_body_bytes = kTestMaxBody;
  o.max_pixels = int64_t{1} << 20;
  o.service.sessions = sessions;
  o.service.max_queue = max_queue;
  o.service.threads_per_session = 1;
  return o;
}

// A started server and a client for it.
struct RunningServer {
  explicit RunningServer(const serve::ServerOptions& options)
      : server(trained_model(), options), port(server.start()) {}
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60);
    return c;
  }
  serve::DetectionServer server;
  int port;
};

// GET /metrics, again until it contains every one of `lines` (at most 5 s): httplib counts a
// response just after sending it, so a client may see the response first.
inline std::string metrics_with(const RunningServer& server,
                                const std::vector<std::string>& lines) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string text;
  do {
    const auto r = server.client().Get("/metrics");
    text = r && r->status == 200 ? r->body : "";
    bool all = !text.empty();
    for (const std::string& line : lines) all = all && text.find(line) != std::string::npos;
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < give_up);
  return text;
}

inline nlohmann::json parse_json(const httplib::Result& result) {
  return nlohmann::json::parse(result->body);
}

}  // namespace yolo4::serve_test
