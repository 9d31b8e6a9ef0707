// yolo4 serve: an HTTP detection service with a browser page. The model is loaded and packed
// once; --workers sessions share its weights, each running one request at a time on its own
// threads. SIGTERM or SIGINT stop it gracefully: new requests get 503, in-flight ones finish.
#include <malloc.h>
#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <tuple>

#include "commands.h"
#include "model_flags.h"
#include "yolo4/core/device.h"
#include "yolo4/core/error.h"
#include "yolo4/serve/http_server.h"

namespace yolo4::cli {

namespace {

struct ServeFlags {
  ModelFlags model;
  std::string host = "127.0.0.1";
  int port = 7000;
  int workers = 1;
  int max_queue = 16;
  int max_body_mb = 16;
  int max_megapixels = 40;
  int timeout_s = 10;
  serve::DetectParams defaults;
};

constexpr const char* kUsage =
    "yolo4 serve [--host 127.0.0.1] [--port 7000] [--workers N] [--max-queue N] [--max-body MB]\n"
    "       [--max-pixels MP] [--timeout S] [--conf T] [--nms T] [--max-det N] [model flags]";

constexpr const char* kSummary =
    "Serves detection over HTTP, with a browser page at / (choose or drop an image, or stream the\n"
    "webcam):\n"
    "  POST /detect            an image (JPEG, PNG, BMP, WebP) as the raw body or the multipart\n"
    "                          field 'file'; query conf, nms, max_det. Answers JSON: width,\n"
    "                          height, detections [{class_id, class, score, box [x1,y1,x2,y2]}]\n"
    "                          in pixels, timings_ms {queue, decode, preprocess, network,\n"
    "                          postprocess, total}.\n"
    "  POST /objdetection_v2   the report's web demo: field 'file' in, a JSON list of\n"
    "                          [x1, y1, x2, y2, conf, conf, class_id] out, corners in 0..1.\n"
    "  GET /healthz, GET /metrics (Prometheus text format).\n"
    "Errors answer JSON {\"error\": reason}: 400 not a decodable image or bad parameter, 413 body\n"
    "over --max-body, 415 wrong Content-Type, 503 queue full (with Retry-After) or stopping,\n"
    "504 no answer within --timeout. SIGTERM/SIGINT: stop taking requests, finish the others.";

bool parse_options(int argc, char** argv, ServeFlags& o) {
  ArgParser p(kUsage, kSummary);
  p.option("--host", "ADDR", "address to listen on (default 127.0.0.1: this machine only)",
           &o.host);
  p.option("--port", "N", "TCP port (default 7000; 0: any free port, printed at start)", &o.port, 0,
           65535);
  p.option("--workers", "N", "inference sessions sharing the weights (default 1)", &o.workers, 1,
           256);
  p.option("--max-queue", "N", "requests waiting for a session before 503 (default 16)",
           &o.max_queue, 1, 100000);
  p.option("--max-body", "MB", "largest request body in MiB (default 16)", &o.max_body_mb, 1, 1024);
  p.option("--max-pixels", "MP",
           "largest image in megapixels (2^20), checked before decoding "
           "(default 40)",
           &o.max_megapixels, 1, 256);
  p.option("--timeout", "S", "seconds a request may take, queueing included (default 10)",
           &o.timeout_s, 1, 3600);
  p.option("--conf", "T", "default score threshold (query conf overrides; default 0.25)",
           &o.defaults.conf, serve::DetectParams::kMinConf, 1.0f);
  p.option("--nms", "T", "default NMS IoU threshold (query nms overrides; default 0.45)",
           &o.defaults.iou, 0.0f, 1.0f);
  p.option("--max-det", "N",
           "default most boxes per image (query max_det overrides; default "
           "100; 0: all)",
           &o.defaults.max_det, 0, 100000);
  o.model.weights = "auto";
  o.model.add_to(p,
                 "'auto' (default: the model's official weights, downloaded once) or a "
                 ".weights/.pth; empty: deterministic random weights");
  if (!p.parse(argc, argv)) return false;
  o.model.options();  // checks the precision flags before anything slow happens
  return true;
}

}  // namespace

int serve_command(int argc, char** argv) {
  ServeFlags flags;
  if (!parse_options(argc, argv, flags)) return 0;

  // Every thread started from here on inherits this mask, so SIGTERM and SIGINT only reach the
  // sigwait below, which then stops the server in an orderly way.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // Every request allocates buffers of a megabyte or more (body, pixels, network input) on
  // whichever HTTP thread it lands. glibc's adaptive mmap threshold soon serves those from the
  // heap arenas, where they fragment: RSS then grew by ~200 MB over a minute of load. A fixed
  // threshold keeps them in mmap, returned to the system when freed (RSS stays within ~10 MB).
  mallopt(M_MMAP_THRESHOLD, 64 * 1024);

  serve::ServerOptions options;
  options.host = flags.host;
  options.port = flags.port;
  options.max_body_bytes = size_t(flags.max_body_mb) << 20;
  options.max_pixels = int64_t(flags.max_megapixels) << 20;
  options.request_timeout = std::chrono::seconds(flags.timeout_s);
  options.defaults = flags.defaults;
  serve::ServiceOptions& service = options.service;
  service.sessions = flags.workers;
  service.max_queue = flags.max_queue;
  // The cores are split between the sessions; one session gets them all, pinned.
  service.threads_per_session = flags.model.threads > 0
                                    ? flags.model.threads
                                    : std::max(1, default_thread_count() / flags.workers);
  service.pinning = flags.workers == 1 ? flags.model.pinning() : ThreadPinning::kFloating;

  const auto model = load_detection_model(flags.model.source());
  std::tie(service.width, service.height) = flags.model.input_size(model->spec());

  serve::DetectionServer server(model, options);
  const int port = server.start();
  std::cout << "yolo4 serve: " << model->describe() << "; " << flags.workers << " session(s) x "
            << service.threads_per_session << " thread(s); listening on http://" << flags.host
            << ":" << port << "/" << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::cout << "yolo4 serve: " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT")
            << ": refusing new requests, finishing the others" << std::endl;
  const bool finished = server.shutdown(options.request_timeout);
  std::cout << "yolo4 serve: stopped" << (finished ? "" : " (some requests timed out)")
            << std::endl;
  return 0;
}

}  // namespace yolo4::cli
