// The captured-and-replayed arena plan: no overlap between live tensors (poisoned arena between
// runs), identical outputs run after run and for 1 vs 2 threads, and the plan close to the
// dataflow's lower bound.
#include "yolo4/model/session.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "yolo4/core/error.h"
#include "yolo4/model/yolov4.h"
#include "yolo4/ops/layout.h"

namespace yolo4 {
namespace {

Tensor random_image(const Shape& shape) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> data(size_t(shape.elements()));
  for (float& v : data) v = dist(rng);
  return from_nhwc(data.data(), shape);
}

// Packed once per process (random weights, about 64M parameters; the sanitizer builds run the
// tests as one process): the tests only read it, as a model is meant to be shared.
const Yolov4& random_model() {
  static const Yolov4 model(random_yolov4_weights(5));
  return model;
}

std::vector<std::vector<float>> flatten(const std::array<Tensor, 3>& heads) {
  return {to_nhwc(heads[0]), to_nhwc(heads[1]), to_nhwc(heads[2])};
}

TEST(InferenceSession, ReplayMatchesEagerRunAndThreadCounts) {
  const Yolov4& model = random_model();
  const Tensor input = random_image({1, 96, 64, 3});
  Device eager_device(1);
  const auto eager = flatten(model(eager_device, input));

  for (int threads : {1, 2}) {
    Device device(threads);
    InferenceSession session(model, device);
    EXPECT_EQ(flatten(session.run(input)), eager) << "capture run, threads=" << threads;
    for (int run = 0; run < 3; ++run) {
      device.allocator().poison_arena();
      EXPECT_EQ(flatten(session.run(input)), eager) << "replay " << run << ", threads=" << threads;
    }
    EXPECT_GT(session.arena_bytes(), 0u);
    EXPECT_LE(double(session.arena_bytes()), 1.2 * double(session.lower_bound_bytes()));
  }
}

TEST(InferenceSession, ReplansForANewInputShape) {
  const Yolov4& model = random_model();
  Device device(2);
  InferenceSession session(model, device);
  session.run(random_image({1, 64, 64, 3}));
  const auto heads = session.run(random_image({1, 128, 96, 3}));
  EXPECT_EQ(heads[0].shape(), (Shape{1, 16, 12, 255}));
  EXPECT_EQ(heads[2].shape(), (Shape{1, 4, 3, 255}));
}

TEST(Yolov4, RejectsBadInputShapes) {
  const Yolov4& model = random_model();
  Device device(1);
  EXPECT_THROW(model(device, random_image({1, 100, 64, 3})), Error);
  EXPECT_THROW(model(device, random_image({1, 64, 64, 4})), Error);
}

TEST(Yolov4, CountsTheReportsFlops) {
  const Yolov4& model = random_model();
  // 35.56 GFLOP for the convs at 320x320 (the speed issue's figure).
  EXPECT_NEAR(model.flops({1, 320, 320, 3}) * 1e-9, 35.56, 0.01);
}

}  // namespace
}  // namespace yolo4

namespace yolo4 {
namespace {

// The packed model is shared read-only state: threads with their own devices and sessions run
// it at once and get exactly what one thread alone gets.
TEST(Yolov4, SharedByConcurrentSessions) {
  const Yolov4& model = random_model();
  const Tensor input = random_image({1, 64, 96, 3});
  Device solo(1);
  const auto expected = flatten(model(solo, input));
  std::vector<std::vector<std::vector<float>>> results(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      Device device(1);
      InferenceSession session(model, device);
      for (int run = 0; run < 3; ++run) results[t] = flatten(session.run(input));
    });
  }
  for (std::thread& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, expected);
}

}  // namespace
}  // namespace yolo4
