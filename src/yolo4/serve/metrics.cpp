#include "yolo4/serve/metrics.h"

#include <algorithm>
#include <sstream>

namespace yolo4::serve {

void ServeMetrics::count_response(const std::string& endpoint, int status) {
  std::lock_guard lock(mutex_);
  ++responses_[{endpoint, status}];
}

void ServeMetrics::observe_latency(double seconds) {
  std::lock_guard lock(mutex_);
  const auto bucket = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), seconds);
  if (bucket != kLatencyBuckets.end()) ++bucket_counts_[bucket - kLatencyBuckets.begin()];
  ++latency_count_;
  latency_sum_ += seconds;
}

std::string ServeMetrics::prometheus_text(const Gauges& gauges) const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  out << "# HELP yolo4_http_requests_total HTTP responses sent, by endpoint and status.\n"
         "# TYPE yolo4_http_requests_total counter\n";
  for (const auto& [key, count] : responses_) {
    out << "yolo4_http_requests_total{endpoint=\"" << key.first << "\",status=\"" << key.second
        << "\"} " << count << "\n";
  }
  out << "# HELP yolo4_request_duration_seconds Detection request latency, arrival to answer.\n"
         "# TYPE yolo4_request_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    cumulative += bucket_counts_[i];
    out << "yolo4_request_duration_seconds_bucket{le=\"" << kLatencyBuckets[i] << "\"} "
        << cumulative << "\n";
  }
  out << "yolo4_request_duration_seconds_bucket{le=\"+Inf\"} " << latency_count_ << "\n"
      << "yolo4_request_duration_seconds_sum " << latency_sum_ << "\n"
      << "yolo4_request_duration_seconds_count " << latency_count_ << "\n";
  out << "# HELP yolo4_queue_depth Detection requests waiting for a session.\n"
         "# TYPE yolo4_queue_depth gauge\n"
      << "yolo4_queue_depth " << gauges.queue_depth << "\n"
      << "# HELP yolo4_queue_capacity Requests the queue holds before answering 503.\n"
         "# TYPE yolo4_queue_capacity gauge\n"
      << "yolo4_queue_capacity " << gauges.queue_capacity << "\n"
      << "# HELP yolo4_sessions Inference sessions sharing the model's weights.\n"
         "# TYPE yolo4_sessions gauge\n"
      << "yolo4_sessions " << gauges.sessions << "\n"
      << "# HELP yolo4_sessions_busy Inference sessions running a request now.\n"
         "# TYPE yolo4_sessions_busy gauge\n"
      << "yolo4_sessions_busy " << gauges.sessions_busy << "\n";
  return out.str();
}

}  // namespace yolo4::serve
