// The inference side of yolo4 serve: a bounded queue of decoded images in front of N sessions.
// The model is loaded once; each session is a Detector (own device, activation arena and thread
// pool) built and used by one worker thread, so sessions run concurrently on shared weights.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <opencv2/core.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "yolo4/core/thread_pool.h"
#include "yolo4/pipeline/detector.h"

namespace yolo4::serve {

// Per-request thresholds. Sessions decode every box above kMinConf without suppressing any, and
// each request then applies its own conf, NMS and max_det: the same boxes as a Detector built
// with those thresholds, with one Detector per session for all requests.
struct DetectParams {
  static constexpr float kMinConf = 0.01f;
  float conf = 0.25f;  // keep boxes scoring above conf, in [kMinConf, 1]
  float iou = 0.45f;   // NMS: suppress a box overlapping a better one of its class by more
  int max_det = 100;   // at most this many boxes, best first; 0 keeps all
};

struct ServiceOptions {
  int sessions = 1;
  int max_queue = 16;  // requests waiting for a session; one more is refused
  int threads_per_session = 1;
  ThreadPinning pinning = ThreadPinning::kFloating;
  int width = 0, height = 0;      // network input; 0: the cfg's
  std::optional<bool> letterbox;  // empty: the cfg's
};

struct DetectOutcome {
  enum class Status { kOk, kQueueFull, kStopping, kTimedOut, kFailed };
  Status status = Status::kOk;
  std::string error;  // kFailed: what went wrong
  std::vector<Detection> detections;
  double queue_ms = 0;  // waiting for a session
  DetectTimings timings;
};

class DetectionService {
 public:
  // Builds every session in its own worker thread; throws the first construction error.
  DetectionService(std::shared_ptr<const DetectionModel> model, const ServiceOptions& options);
  // Sessions finish their current image; requests still queued are answered kStopping.
  ~DetectionService();
  DetectionService(const DetectionService&) = delete;
  DetectionService& operator=(const DetectionService&) = delete;

  // Queues bgr (8-bit BGR) for the next free session and waits for its detections. kQueueFull
  // when max_queue requests are waiting already; kTimedOut after timeout (a queued request is
  // then dropped unrun).
  DetectOutcome detect(cv::Mat bgr, const DetectParams& params,
                       std::chrono::steady_clock::duration timeout);

  // Whether a request would be queued now; lets callers refuse before decoding an image.
  bool has_room() const;

  const DetectionModel& model() const { return *model_; }
  int sessions() const { return int(workers_.size()); }
  int sessions_busy() const;
  int queue_depth() const;
  int queue_capacity() const { return options_.max_queue; }

 private:
  struct Job;
  void run_session(std::promise<void>& ready);
  DetectOutcome run_job(Detector& detector, const Job& job);

  std::shared_ptr<const DetectionModel> model_;
  ServiceOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable work_available_;
  std::deque<std::shared_ptr<Job>> queue_;
  int busy_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace yolo4::serve
