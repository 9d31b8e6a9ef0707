#include "yolo4/serve/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <thread>

#include "yolo4/core/error.h"
#include "yolo4/io/image_input.h"
#include "yolo4/serve/metrics.h"
#include "yolo4/serve/page.h"

namespace yolo4::serve {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr const char* kRetryAfterSeconds = "1";

// Whether this connection thread's current request is counted in Impl::active: httplib calls
// the pre-routing handler and the logger of one request on the same thread, and calls the logger
// alone for requests it refuses before routing.
thread_local bool t_request_counted = false;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// A refused request: its status and a one-line reason.
struct Refusal {
  int status;
  std::string reason;
};

// JSON text of a body holding strings from the request (method, path, parameters) or the names
// file: bytes that are not UTF-8 become U+FFFD instead of throwing, which in httplib's error
// handler would end the process (found by fuzz_serve_http: a method "GET\xd6").
std::string json_text(const json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

void set_error(httplib::Response& res, int status, std::string reason) {
  std::replace(reason.begin(), reason.end(), '\n', ' ');
  res.status = status;
  res.set_content(json_text(json{{"error", reason}}) + "\n", "application/json");
}

// A float query parameter in [min, max], or the default when absent.
float float_param(const httplib::Request& req, const char* name, float fallback, float min,
                  float max) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  char* end = nullptr;
  const float value = std::strtof(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value) || value < min || value > max) {
    throw Refusal{400, detail::concat("query parameter ", name, "='", text,
                                      "': expected a number in [", min, ", ", max, "]")};
  }
  return value;
}

int int_param(const httplib::Request& req, const char* name, int fallback, int min, int max) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < min || value > max) {
    throw Refusal{400, detail::concat("query parameter ", name, "='", text,
                                      "': expected an integer in [", min, ", ", max, "]")};
  }
  return int(value);
}

DetectParams request_params(const httplib::Request& req, const DetectParams& defaults) {
  DetectParams p;
  p.conf = float_param(req, "conf", defaults.conf, DetectParams::kMinConf, 1.0f);
  p.iou = float_param(req, "nms", defaults.iou, 0.0f, 1.0f);
  p.max_det = int_param(req, "max_det", defaults.max_det, 0, 100000);
  return p;
}

bool accepted_raw_content_type(const std::string& type) {
  return type.empty() || type.starts_with("image/") || type.starts_with("application/octet-stream");
}

// The image bytes: the multipart field `file`, else the raw body.
std::string_view image_bytes(const httplib::Request& req) {
  if (req.is_multipart_form_data()) {
    if (!req.has_file("file")) throw Refusal{400, "multipart body has no 'file' field"};
    const auto& file = req.files.find("file")->second;
    return file.content;
  }
  const std::string type = req.get_header_value("Content-Type");
  if (!accepted_raw_content_type(type)) {
    throw Refusal{415, "Content-Type '" + type +
                           "': expected an image (image/*, application/octet-stream) or "
                           "multipart/form-data with a 'file' field"};
  }
  return req.body;
}

// The route a path belongs to, as the metrics label: never the raw path, whose values are
// unbounded.
std::string endpoint_label(const std::string& path) {
  for (const char* route : {"/detect", "/objdetection_v2", "/healthz", "/metrics"}) {
    if (path == route) return route;
  }
  return find_page_file(path) != nullptr ? "/page" : "other";
}

json detections_json(const std::vector<Detection>& detections, const DetectionModel& model) {
  json list = json::array();
  for (const Detection& d : detections) {
    list.push_back({{"class_id", d.class_id},
                    {"class", model.class_names().at(d.class_id)},
                    {"score", d.score},
                    {"box", {d.x1, d.y1, d.x2, d.y2}}});
  }
  return list;
}

// The report's web demo contract: [x1, y1, x2, y2, conf, conf, class_id], corners in 0..1.
json demo_json(const std::vector<Detection>& detections, int width, int height) {
  json list = json::array();
  for (const Detection& d : detections) {
    list.push_back(
        {d.x1 / width, d.y1 / height, d.x2 / width, d.y2 / height, d.score, d.score, d.class_id});
  }
  return list;
}

// Debian's cpp-httplib listens with a backlog of 5: connections beyond it in a burst wait for
// TCP's SYN retransmission (1 s, and are refused if the server stops meanwhile). listen() again
// on the bound socket raises the backlog.
class HttpServer : public httplib::Server {
 public:
  void raise_backlog() {
    YOLO4_CHECK(::listen(svr_sock_, SOMAXCONN) == 0, "serve: listen() failed");
  }
};

}  // namespace

struct DetectionServer::Impl {
  ServerOptions options;
  DetectionService service;
  ServeMetrics metrics;
  HttpServer http;
  std::thread listener;
  std::atomic<bool> draining{false};
  std::atomic<int> active{0};  // requests between their headers and their answer

  Impl(std::shared_ptr<const DetectionModel> model, const ServerOptions& o)
      : options(o), service(std::move(model), o.service) {
    configure();
  }

  void configure();
  void handle_detection(const httplib::Request& req, httplib::Response& res, bool demo_format);
  void detect(const httplib::Request& req, httplib::Response& res, bool demo_format);
};

void DetectionServer::Impl::configure() {
  // Enough HTTP threads for a full queue plus requests that are answered at once (refusals,
  // health checks, metrics) while it is full.
  const size_t http_threads = size_t(service.sessions() + service.queue_capacity() + 8);
  http.new_task_queue = [http_threads] { return new httplib::ThreadPool(http_threads); };
  http.set_payload_max_length(options.max_body_bytes);
  const auto timeout_s = std::max<time_t>(1, options.request_timeout.count() / 1000);
  http.set_read_timeout(timeout_s);
  http.set_write_timeout(timeout_s);
  http.set_keep_alive_max_count(1000);
  // httplib writes a response's headers and body separately: with Nagle's algorithm the body
  // then waits for the client's delayed ACK of the headers (40 ms on Linux) on every keep-alive
  // request. Found by the soak test (tests/soak): 50 ms per GET /healthz.
  http.set_tcp_nodelay(true);

  http.Post("/detect", [this](const httplib::Request& req, httplib::Response& res) {
    handle_detection(req, res, false);
  });
  http.Post("/objdetection_v2", [this](const httplib::Request& req, httplib::Response& res) {
    handle_detection(req, res, true);
  });
  http.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    if (draining) {
      set_error(res, 503, "shutting down");
      return;
    }
    res.set_content("ok\n", "text/plain");
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    const ServeMetrics::Gauges gauges{service.queue_depth(), service.queue_capacity(),
                                      service.sessions(), service.sessions_busy()};
    res.set_content(metrics.prometheus_text(gauges), "text/plain; version=0.0.4");
  });
  // Only the embedded page files exist: any other path is a 404, never a file lookup.
  http.Get("/.*", [](const httplib::Request& req, httplib::Response& res) {
    const PageFile* file = find_page_file(req.path);
    if (file == nullptr) {
      set_error(res, 404, "no page " + req.path);
      return;
    }
    res.set_content(file->content.data(), file->content.size(),
                    std::string(page_content_type(file->path)));
    res.set_header("Cache-Control", "no-cache");
  });
  // Errors httplib answers itself (413, 404 of other methods, malformed requests) get the same
  // one-line JSON reason as ours.
  http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      set_error(
          res, 413,
          detail::concat("request body over the limit of ", options.max_body_bytes, " bytes"));
    } else {
      set_error(res, res.status,
                detail::concat(req.method, " ", req.path, ": ",
                               res.status == 404 ? "no such endpoint" : "malformed request"));
    }
  });
  // A request counts as in flight from its parsed headers (before its body is read) to its
  // answer, so that shutdown() lets it finish.
  http.set_pre_routing_handler([this](const httplib::Request&, httplib::Response&) {
    if (!t_request_counted) {
      ++active;
      t_request_counted = true;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.count_response(endpoint_label(req.path), res.status);
    if (t_request_counted) {
      --active;
      t_request_counted = false;
    }
  });
}

void DetectionServer::Impl::handle_detection(const httplib::Request& req, httplib::Response& res,
                                             bool demo_format) {
  const auto start = Clock::now();
  try {
    if (draining) throw Refusal{503, "shutting down"};
    detect(req, res, demo_format);
  } catch (const Refusal& refusal) {
    set_error(res, refusal.status, refusal.reason);
    if (refusal.status == 503) res.set_header("Retry-After", kRetryAfterSeconds);
  }
  metrics.observe_latency(ms_since(start) / 1000);
}

void DetectionServer::Impl::detect(const httplib::Request& req, httplib::Response& res,
                                   bool demo_format) {
  const auto start = Clock::now();
  const DetectParams params = request_params(req, options.defaults);
  const std::string_view bytes = image_bytes(req);
  if (bytes.empty()) throw Refusal{400, "empty body: expected an image"};
  if (!service.has_room()) throw Refusal{503, "the queue is full; retry later"};

  cv::Mat image;
  try {
    image =
        decode_image(std::span(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()),
                     "in the request body", kMaxImageSide, options.max_pixels);
  } catch (const Error& e) {
    throw Refusal{400, e.what()};
  }
  const double decode_ms = ms_since(start);

  const auto remaining = options.request_timeout - (Clock::now() - start);
  DetectOutcome outcome = service.detect(image, params, remaining);
  using Status = DetectOutcome::Status;
  switch (outcome.status) {
    case Status::kOk:
      break;
    case Status::kQueueFull:
      throw Refusal{503, "the queue is full; retry later"};
    case Status::kStopping:
      throw Refusal{503, "shutting down"};
    case Status::kTimedOut:
      throw Refusal{504, detail::concat("no answer within the request timeout of ",
                                        options.request_timeout.count(), " ms")};
    case Status::kFailed:
      throw Refusal{500, "detection failed: " + outcome.error};
  }
  if (demo_format) {
    res.set_content(json_text(demo_json(outcome.detections, image.cols, image.rows)),
                    "application/json");
    return;
  }
  const json body = {{"width", image.cols},
                     {"height", image.rows},
                     {"detections", detections_json(outcome.detections, service.model())},
                     {"timings_ms",
                      {{"queue", outcome.queue_ms},
                       {"decode", decode_ms},
                       {"preprocess", outcome.timings.preprocess_ms},
                       {"network", outcome.timings.network_ms},
                       {"postprocess", outcome.timings.postprocess_ms},
                       {"total", ms_since(start)}}}};
  res.set_content(json_text(body), "application/json");
}

DetectionServer::DetectionServer(std::shared_ptr<const DetectionModel> model,
                                 const ServerOptions& options)
    : impl_(std::make_unique<Impl>(std::move(model), options)) {}

DetectionServer::~DetectionServer() {
  shutdown(std::chrono::milliseconds(0));
}

int DetectionServer::start() {
  YOLO4_CHECK(!impl_->listener.joinable(), "serve: already started");
  const ServerOptions& o = impl_->options;
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    port = -1;
  }
  YOLO4_CHECK(port > 0, "serve: cannot listen on ", o.host, ":", o.port,
              " (address in use, or not an address of this machine?)");
  impl_->http.raise_backlog();
  impl_->listener = std::thread([this] { impl_->http.listen_after_bind(); });
  return port;
}

bool DetectionServer::shutdown(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  s.draining = true;
  const auto deadline = Clock::now() + grace;
  while (s.active > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const bool finished = s.active == 0;
  if (s.listener.joinable()) {
    s.http.stop();
    s.listener.join();
  }
  return finished;
}

const DetectionService& DetectionServer::service() const {
  return impl_->service;
}

}  // namespace yolo4::serve
