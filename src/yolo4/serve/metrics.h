// What yolo4 serve exposes on GET /metrics, in the Prometheus text format: responses by endpoint
// and status, a histogram of detection latency, and the gauges the caller passes in.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace yolo4::serve {

class ServeMetrics {
 public:
  // Upper bounds (seconds) of the latency histogram's buckets; +Inf is implied.
  static constexpr std::array<double, 12> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                             0.5,   1,    2.5,   5,    10,  30};

  // endpoint: a route ("/detect"), never a raw request path, so the label set stays bounded.
  void count_response(const std::string& endpoint, int status);
  // Time from a detection request's arrival at its handler to its answer.
  void observe_latency(double seconds);

  struct Gauges {
    int queue_depth = 0, queue_capacity = 0;
    int sessions = 0, sessions_busy = 0;
  };
  std::string prometheus_text(const Gauges& gauges) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> responses_;
  std::array<uint64_t, kLatencyBuckets.size()> bucket_counts_{};  // not cumulative
  uint64_t latency_count_ = 0;
  double latency_sum_ = 0;
};

}  // namespace yolo4::serve
