// yolo4 serve's HTTP front end: POST /detect and /objdetection_v2 (an image in, boxes out as
// JSON), GET / (the embedded page), /healthz and /metrics (Prometheus). Bodies are bounded
// (413), undecodable or oversized images refused (400), a full queue answers 503 with
// Retry-After, a request that waits too long 504. shutdown() refuses new requests and lets
// in-flight ones finish. The HTTP library stays inside http_server.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "yolo4/serve/detection_service.h"

namespace yolo4::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 7000;  // 0: any free port (see DetectionServer::start)
  size_t max_body_bytes = size_t{16} << 20;
  // Decoded images may have at most this many pixels; the header is checked before decoding.
  int64_t max_pixels = int64_t{40} << 20;
  std::chrono::milliseconds request_timeout{10'000};  // arrival to answer, queueing included
  DetectParams defaults;  // when a request gives no conf, nms or max_det
  ServiceOptions service;
};

class DetectionServer {
 public:
  // Builds the sessions (loads nothing else: the model is shared).
  DetectionServer(std::shared_ptr<const DetectionModel> model, const ServerOptions& options);
  ~DetectionServer();  // shutdown() with no grace if still running
  DetectionServer(const DetectionServer&) = delete;
  DetectionServer& operator=(const DetectionServer&) = delete;

  // Binds host:port and answers requests on background threads; returns the bound port. Throws
  // yolo4::Error when the address cannot be bound.
  int start();

  // Graceful stop: new requests get 503, requests already in progress run to the end (up to
  // grace), then the listener closes. Returns false when some were still running after grace.
  bool shutdown(std::chrono::milliseconds grace);

  const DetectionService& service() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace yolo4::serve
