// yolo4 serve under pressure: a full queue answers 503 with Retry-After, a request that waits
// too long 504, and a graceful stop refuses new requests while in-flight ones finish.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "serve_test_util.h"

namespace yolo4::serve_test {
namespace {

using namespace std::chrono_literals;

// Sends `count` dog.jpg requests at once, each from its own client; returns their statuses
// (-1: no response) and, for 503s, whether Retry-After was set.
struct Burst {
  std::vector<int> statuses;
  int retry_after_missing = 0;
  int count(int status) const { return int(std::count(statuses.begin(), statuses.end(), status)); }
};

Burst send_burst(const RunningServer& server, int count) {
  Burst burst;
  burst.statuses.assign(count, -1);
  std::atomic<int> missing{0};
  std::atomic<int> waiting{count};
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client client = server.client();
      --waiting;
      while (waiting > 0) std::this_thread::yield();  // all send together
      const auto r = client.Post("/detect", dog_jpeg(), "image/jpeg");
      if (!r) {
        std::fprintf(stderr, "request %d: %s\n", i, httplib::to_string(r.error()).c_str());
        return;
      }
      burst.statuses[i] = r->status;
      if (r->status == 503 && r->get_header_value("Retry-After") != "1") ++missing;
    });
  }
  for (auto& t : threads) t.join();
  burst.retry_after_missing = missing;
  return burst;
}

TEST(Overload, FullQueueAnswers503WithRetryAfter) {
  // One session and room for one waiting request: of 12 simultaneous requests at most 2 can be
  // accepted before the first finishes.
  RunningServer server(test_options(1, 1));
  const Burst burst = send_burst(server, 12);
  EXPECT_EQ(burst.count(200) + burst.count(503), 12) << ::testing::PrintToString(burst.statuses);
  EXPECT_GE(burst.count(200), 1);
  EXPECT_GE(burst.count(503), 1) << ::testing::PrintToString(burst.statuses);
  EXPECT_EQ(burst.retry_after_missing, 0);
  // Once the burst is over the server answers normally again.
  EXPECT_EQ(server.client().Post("/detect", dog_jpeg(), "image/jpeg")->status, 200);
  const std::string refused = "yolo4_http_requests_total{endpoint=\"/detect\",status=\"503\"} " +
                              std::to_string(burst.count(503)) + "\n";
  const std::string metrics = metrics_with(server, {refused});
  EXPECT_NE(metrics.find(refused), std::string::npos) << metrics;
}

TEST(Overload, RequestOverTheTimeoutIs504) {
  serve::ServerOptions options = test_options(1, 4);
  options.request_timeout = 1ms;  // less than any inference takes
  RunningServer server(options);
  const auto r = server.client().Post("/detect", dog_jpeg(), "image/jpeg");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504) << r->body;
  EXPECT_NE(r->body.find("timeout"), std::string::npos) << r->body;
}

TEST(Overload, ShutdownRefusesNewRequestsAndFinishesInFlightOnes) {
  RunningServer server(test_options(1, 16));
  Burst in_flight;
  std::thread senders([&] { in_flight = send_burst(server, 8); });
  // Wait until the session works on one and others wait in the queue, then stop: every request
  // accepted by then must still be answered 200.
  const auto& service = server.server.service();
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  auto accepted = [&] { return service.sessions_busy() + service.queue_depth(); };
  while (accepted() < 4 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(100us);
  }
  const int accepted_at_stop = accepted();
  ASSERT_GE(accepted_at_stop, 4);
  bool finished = false;
  std::thread stopper([&] { finished = server.server.shutdown(60s); });
  // While the others still run, a new request is refused.
  int health = 0;
  while (health != 503 && std::chrono::steady_clock::now() < give_up) {
    const auto r = server.client().Get("/healthz");
    health = r ? r->status : -1;
    ASSERT_NE(health, -1) << "the server stopped before the in-flight requests were done";
  }
  const auto refused = server.client().Post("/detect", dog_jpeg(), "image/jpeg");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503) << refused->body;
  EXPECT_NE(refused->body.find("shutting down"), std::string::npos) << refused->body;
  stopper.join();
  senders.join();
  EXPECT_TRUE(finished);
  EXPECT_GE(in_flight.count(200), accepted_at_stop);
  EXPECT_EQ(in_flight.count(200) + in_flight.count(503), 8)
      << ::testing::PrintToString(in_flight.statuses);
  // Stopped: nothing listens any more.
  EXPECT_FALSE(server.client().Get("/healthz"));
}

}  // namespace
}  // namespace yolo4::serve_test
