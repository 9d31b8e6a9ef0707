#include "yolo4/serve/detection_service.h"

#include <algorithm>
#include <atomic>
#include <future>

#include "yolo4/core/error.h"
#include "yolo4/postprocess/nms.h"

namespace yolo4::serve {

namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

DetectorOptions session_options(const ServiceOptions& o) {
  DetectorOptions d;
  d.width = o.width;
  d.height = o.height;
  d.letterbox = o.letterbox;
  d.conf_threshold = DetectParams::kMinConf;
  d.nms.iou_threshold = 1.0f;  // IoU never exceeds 1: NMS suppresses nothing here
  d.nms.kind = NmsKind::kIou;
  d.nms.max_detections = 0;
  d.threads = o.threads_per_session;
  d.pinning = o.pinning;
  return d;
}

DetectOutcome outcome_with(DetectOutcome::Status status) {
  DetectOutcome outcome;
  outcome.status = status;
  return outcome;
}

}  // namespace

struct DetectionService::Job {
  cv::Mat image;
  DetectParams params;
  Clock::time_point queued_at = Clock::now();
  std::promise<DetectOutcome> outcome;
  std::atomic<bool> abandoned{false};  // the requester timed out: skip it
};

DetectionService::DetectionService(std::shared_ptr<const DetectionModel> model,
                                   const ServiceOptions& options)
    : model_(std::move(model)), options_(options) {
  YOLO4_CHECK(model_ != nullptr, "serve: no model");
  YOLO4_CHECK(options_.sessions >= 1, "serve: ", options_.sessions,
              " sessions, expected at least 1");
  YOLO4_CHECK(options_.max_queue >= 1, "serve: queue of ", options_.max_queue,
              " requests, expected at least 1");
  std::vector<std::promise<void>> ready(options_.sessions);
  for (int i = 0; i < options_.sessions; ++i) {
    workers_.emplace_back([this, i, &ready] { run_session(ready[i]); });
  }
  try {
    for (auto& r : ready) r.get_future().get();
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    work_available_.notify_all();
    for (auto& w : workers_) w.join();
    throw;
  }
}

DetectionService::~DetectionService() {
  std::deque<std::shared_ptr<Job>> left;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    left.swap(queue_);
  }
  work_available_.notify_all();
  for (auto& job : left) {
    job->outcome.set_value(outcome_with(DetectOutcome::Status::kStopping));
  }
  for (auto& w : workers_) w.join();
}

void DetectionService::run_session(std::promise<void>& ready) {
  // The Detector is made here: its thread pool treats the creating thread as core 0.
  std::optional<Detector> detector;
  try {
    detector.emplace(model_, session_options(options_));
    ready.set_value();
  } catch (...) {
    ready.set_exception(std::current_exception());
    return;
  }
  while (true) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mutex_);
      work_available_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      if (job->abandoned) continue;
      ++busy_;
    }
    DetectOutcome outcome = run_job(*detector, *job);
    {
      std::lock_guard lock(mutex_);
      --busy_;
    }
    job->outcome.set_value(std::move(outcome));
  }
}

DetectOutcome DetectionService::run_job(Detector& detector, const Job& job) {
  DetectOutcome outcome;
  outcome.queue_ms = ms_between(job.queued_at, Clock::now());
  try {
    const std::vector<Detection> candidates = detector.detect(job.image, "request");
    outcome.timings = detector.last_timings();
    const auto start = Clock::now();
    std::vector<Detection> kept;
    for (const Detection& d : candidates) {
      if (d.score > job.params.conf) kept.push_back(d);
    }
    NmsOptions nms_options;
    nms_options.iou_threshold = job.params.iou;
    nms_options.kind = NmsKind::kIou;
    nms_options.max_detections = job.params.max_det;
    outcome.detections = nms(kept, nms_options);
    outcome.timings.postprocess_ms += ms_between(start, Clock::now());
  } catch (const std::exception& e) {
    outcome.status = DetectOutcome::Status::kFailed;
    outcome.error = e.what();
  }
  return outcome;
}

DetectOutcome DetectionService::detect(cv::Mat bgr, const DetectParams& params,
                                       Clock::duration timeout) {
  auto job = std::make_shared<Job>();
  job->image = std::move(bgr);
  job->params = params;
  std::future<DetectOutcome> result = job->outcome.get_future();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return outcome_with(DetectOutcome::Status::kStopping);
    if (int(queue_.size()) >= options_.max_queue) {
      return outcome_with(DetectOutcome::Status::kQueueFull);
    }
    queue_.push_back(job);
  }
  work_available_.notify_one();
  if (result.wait_for(timeout) != std::future_status::ready) {
    job->abandoned = true;
    return outcome_with(DetectOutcome::Status::kTimedOut);
  }
  return result.get();
}

bool DetectionService::has_room() const {
  std::lock_guard lock(mutex_);
  return !stopping_ && int(queue_.size()) < options_.max_queue;
}

int DetectionService::sessions_busy() const {
  std::lock_guard lock(mutex_);
  return busy_;
}

int DetectionService::queue_depth() const {
  std::lock_guard lock(mutex_);
  return int(queue_.size());
}

}  // namespace yolo4::serve
