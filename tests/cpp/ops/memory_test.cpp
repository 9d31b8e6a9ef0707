// core/memory.h: the arena planner against brute force, and the allocator's capture, replay and
// byte accounting.
#include "yolo4/core/memory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "yolo4/core/device.h"
#include "yolo4/core/error.h"

namespace yolo4 {
namespace {

constexpr size_t kAlignment = 64;  // what the planner promises every offset

bool overlap_in_time(const Lifetime& a, const Lifetime& b) {
  return a.first <= b.last && b.first <= a.last;
}

std::vector<Lifetime> random_lifetimes(std::mt19937& rng, int count, int events) {
  std::uniform_int_distribution<int> first(0, events - 1), length(0, events / 3);
  std::uniform_int_distribution<size_t> bytes(1, 1 << 16);
  std::vector<Lifetime> lifetimes(count);
  for (Lifetime& l : lifetimes) {
    l.first = first(rng);
    l.last = std::min(events - 1, l.first + length(rng));
    l.bytes = bytes(rng);
    if (rng() % 4 == 0) l.bytes = l.bytes / kAlignment * kAlignment + kAlignment;  // aligned sizes
  }
  return lifetimes;
}

// Every allocation inside the arena and aligned; no two that are live at once share a byte.
::testing::AssertionResult plan_is_valid(const std::vector<Lifetime>& lifetimes,
                                         const ArenaPlan& plan) {
  if (plan.offsets.size() != lifetimes.size()) {
    return ::testing::AssertionFailure()
           << plan.offsets.size() << " offsets for " << lifetimes.size() << " allocations";
  }
  for (size_t i = 0; i < lifetimes.size(); ++i) {
    if (plan.offsets[i] % kAlignment != 0 ||
        plan.offsets[i] + lifetimes[i].bytes > plan.arena_bytes) {
      return ::testing::AssertionFailure()
             << "allocation " << i << " at " << plan.offsets[i] << " of " << lifetimes[i].bytes
             << " bytes in a " << plan.arena_bytes << "-byte arena";
    }
    for (size_t j = 0; j < i; ++j) {
      const bool in_memory = plan.offsets[i] < plan.offsets[j] + lifetimes[j].bytes &&
                             plan.offsets[j] < plan.offsets[i] + lifetimes[i].bytes;
      if (in_memory && overlap_in_time(lifetimes[i], lifetimes[j])) {
        return ::testing::AssertionFailure() << "allocations " << j << " and " << i << " overlap";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// The peak of simultaneously live bytes, event by event.
size_t brute_force_lower_bound(const std::vector<Lifetime>& lifetimes) {
  size_t peak = 0;
  int events = 0;
  for (const Lifetime& l : lifetimes) events = std::max(events, l.last + 1);
  for (int e = 0; e < events; ++e) {
    size_t live = 0;
    for (const Lifetime& l : lifetimes) live += l.first <= e && e <= l.last ? l.bytes : 0;
    peak = std::max(peak, live);
  }
  return peak;
}

TEST(PlanArenaTest, RandomLifetimesNeverOverlapAndRespectTheLowerBound) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int count = 1 + trial % 60, events = 1 + int(rng() % 80);
    const auto lifetimes = random_lifetimes(rng, count, events);
    const ArenaPlan plan = plan_arena(lifetimes);
    ASSERT_TRUE(plan_is_valid(lifetimes, plan)) << "trial " << trial;
    const size_t lower = live_bytes_lower_bound(lifetimes);
    EXPECT_EQ(lower, brute_force_lower_bound(lifetimes)) << "trial " << trial;
    EXPECT_GE(plan.arena_bytes, lower) << "trial " << trial;
    size_t all = 0;  // placing everything side by side is always possible
    for (const Lifetime& l : lifetimes) all += (l.bytes + kAlignment - 1) / kAlignment * kAlignment;
    EXPECT_LE(plan.arena_bytes, all) << "trial " << trial;
  }
}

TEST(PlanArenaTest, EmptyPlan) {
  EXPECT_EQ(plan_arena({}).arena_bytes, 0u);
  EXPECT_TRUE(plan_arena({}).offsets.empty());
  EXPECT_EQ(live_bytes_lower_bound({}), 0u);
}

TEST(PlanArenaTest, SimpleCasesMeetTheLowerBound) {
  // A chain: each activation lives until the next one is made (input and output of an op).
  std::vector<Lifetime> chain;
  for (int i = 0; i < 10; ++i) chain.push_back({4096, i, i + 1});
  EXPECT_EQ(live_bytes_lower_bound(chain), 8192u);
  EXPECT_EQ(plan_arena(chain).arena_bytes, 8192u);

  // Everything live at once: the sum. Nothing overlapping in time: the largest.
  const std::vector<Lifetime> together = {{1024, 0, 3}, {2048, 1, 3}, {512, 2, 3}};
  EXPECT_EQ(plan_arena(together).arena_bytes, 3584u);
  EXPECT_EQ(live_bytes_lower_bound(together), 3584u);
  const std::vector<Lifetime> apart = {{1024, 0, 0}, {2048, 1, 1}, {512, 2, 2}};
  EXPECT_EQ(plan_arena(apart).arena_bytes, 2048u);
  EXPECT_EQ(live_bytes_lower_bound(apart), 2048u);
}

TEST(PlanArenaTest, CloseToTheLowerBoundOnANetworkLikeSchedule) {
  // A backbone-like chain whose sizes halve every few layers, with long-lived skip tensors
  // (the route outputs the neck reads later), as YOLOv4 has.
  std::vector<Lifetime> lifetimes;
  size_t bytes = 1 << 20;
  for (int i = 0; i < 30; ++i) {
    if (i % 6 == 5) bytes /= 2;
    lifetimes.push_back({bytes, i, i + 1});
    if (i % 10 == 9) lifetimes.push_back({bytes / 2, i, 40});  // a skip
  }
  const size_t lower = live_bytes_lower_bound(lifetimes);
  const ArenaPlan plan = plan_arena(lifetimes);
  ASSERT_TRUE(plan_is_valid(lifetimes, plan));
  EXPECT_LE(double(plan.arena_bytes), 1.25 * double(lower))
      << plan.arena_bytes << " vs lower bound " << lower;
}

// A pass as a model runs one: allocations and releases in a fixed order.
struct Step {
  size_t bytes;      // > 0: allocate this many bytes
  int release = -1;  // >= 0: release the allocation with this index
};

const std::vector<Step> kScript = {
    {1000}, {2000}, {0, 0}, {3000}, {500}, {0, 1}, {64}, {0, 3}, {0, 2}, {4000}, {1000}, {0, 6},
};

// The lifetimes the allocator should record for kScript, by memory.h's rule: an allocation is
// live from its event to the last event before its release; survivors to the last event.
std::vector<Lifetime> script_lifetimes() {
  std::vector<Lifetime> lifetimes;
  for (const Step& step : kScript) {
    if (step.release >= 0) {
      Lifetime& l = lifetimes[step.release];
      l.last = std::max(l.first, int(lifetimes.size()) - 1);
    } else {
      lifetimes.push_back({step.bytes, int(lifetimes.size()), -1});
    }
  }
  for (Lifetime& l : lifetimes) {
    if (l.last < 0) l.last = int(lifetimes.size()) - 1;
  }
  return lifetimes;
}

// Runs kScript, filling each buffer with its index and checking the fill is intact when it is
// released (a live neighbour sharing its bytes would have overwritten it). Returns the buffers.
std::vector<std::shared_ptr<Buffer>> run_script(ActivationAllocator& allocator) {
  std::vector<std::shared_ptr<Buffer>> buffers;
  for (const Step& step : kScript) {
    if (step.release >= 0) {
      std::shared_ptr<Buffer>& b = buffers[step.release];
      for (size_t i = 0; i < b->bytes(); ++i) {
        EXPECT_EQ(uint8_t(b->data()[i]), uint8_t(step.release + 1)) << "buffer " << step.release;
      }
      b.reset();
      continue;
    }
    buffers.push_back(allocator.allocate(step.bytes));
    EXPECT_EQ(buffers.back()->bytes(), step.bytes);
    std::memset(buffers.back()->data(), int(buffers.size()), step.bytes);
  }
  return buffers;
}

TEST(ActivationAllocatorTest, ReplayGivesTheCapturedSizesAtThePlannedOffsets) {
  ActivationAllocator allocator;
  EXPECT_EQ(allocator.arena_bytes(), 0u);
  allocator.begin_capture();
  EXPECT_EQ(allocator.mode(), ActivationAllocator::Mode::kCapture);
  run_script(allocator);  // the survivors are released here, after the pass: as a model output
  allocator.end_capture();
  EXPECT_EQ(allocator.mode(), ActivationAllocator::Mode::kHeap);

  const auto lifetimes = script_lifetimes();
  const ArenaPlan plan = plan_arena(lifetimes);
  EXPECT_EQ(allocator.arena_bytes(), plan.arena_bytes);
  EXPECT_EQ(allocator.lower_bound_bytes(), live_bytes_lower_bound(lifetimes));

  std::vector<std::byte*> first_pass;
  for (int pass = 0; pass < 3; ++pass) {
    allocator.poison_arena();
    allocator.begin_replay();
    EXPECT_EQ(allocator.mode(), ActivationAllocator::Mode::kReplay);
    const auto buffers = run_script(allocator);
    // Survivors of the pass sit where the plan put them, relative to allocation 0.
    ASSERT_TRUE(buffers[0] == nullptr);
    std::vector<std::byte*> data;
    for (const auto& b : buffers) data.push_back(b ? b->data() : nullptr);
    const std::byte* base = nullptr;
    for (size_t i = 0; i < buffers.size(); ++i) {
      if (!buffers[i]) continue;
      if (!base) base = buffers[i]->data() - plan.offsets[i];
      EXPECT_EQ(buffers[i]->data(), base + plan.offsets[i]) << "allocation " << i;
    }
    if (pass == 0) first_pass = data;
    EXPECT_EQ(data, first_pass) << "pass " << pass;  // every pass reuses the same slots
  }
}

// Offsets of every allocation, released or not: a second replay records their addresses.
TEST(ActivationAllocatorTest, EveryReplayedAllocationIsAtItsOffset) {
  ActivationAllocator allocator;
  allocator.begin_capture();
  run_script(allocator);
  allocator.end_capture();
  const ArenaPlan plan = plan_arena(script_lifetimes());
  allocator.begin_replay();
  std::vector<std::shared_ptr<Buffer>> held;  // hold everything: addresses stay readable
  std::vector<std::byte*> addresses;
  for (const Step& step : kScript) {
    if (step.release >= 0) continue;
    held.push_back(allocator.allocate(step.bytes));
    addresses.push_back(held.back()->data());
  }
  for (size_t i = 0; i < addresses.size(); ++i) {
    EXPECT_EQ(addresses[i] - addresses[0],
              std::ptrdiff_t(plan.offsets[i]) - std::ptrdiff_t(plan.offsets[0]))
        << "allocation " << i;
  }
}

TEST(ActivationAllocatorTest, ReplayThrowsOnDivergence) {
  ActivationAllocator allocator;
  allocator.begin_capture();
  { auto a = allocator.allocate(100), b = allocator.allocate(200); }
  allocator.end_capture();

  allocator.begin_replay();
  auto a = allocator.allocate(100);
  try {
    allocator.allocate(300);
    ADD_FAILURE() << "a different size was not refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("diverged from the captured plan at allocation 1"),
              std::string::npos)
        << e.what();
  }
  a.reset();

  allocator.begin_replay();
  auto c = allocator.allocate(100), d = allocator.allocate(200);
  EXPECT_THROW(allocator.allocate(100), Error);  // more allocations than the capture had
}

// Known bug in core/memory.cpp (reported, not fixed here): allocate() counts the bytes before
// the replay check, so a refused allocation stays in current_bytes() for good. Enable once the
// accounting happens after the check.
TEST(ActivationAllocatorTest, RefusedReplayAllocationIsNotCounted) {
  ActivationAllocator allocator;
  allocator.begin_capture();
  { auto a = allocator.allocate(100); }
  allocator.end_capture();
  allocator.begin_replay();
  EXPECT_THROW(allocator.allocate(300), Error);
  EXPECT_EQ(allocator.current_bytes(), 0u);
}

TEST(ActivationAllocatorTest, ModesAreChecked) {
  ActivationAllocator allocator;
  EXPECT_THROW(allocator.end_capture(), Error);
  EXPECT_THROW(allocator.begin_replay(), Error);
  EXPECT_EQ(allocator.mode(), ActivationAllocator::Mode::kHeap);
}

TEST(ActivationAllocatorTest, CurrentAndPeakBytes) {
  ActivationAllocator allocator;
  EXPECT_EQ(allocator.current_bytes(), 0u);
  auto a = allocator.allocate(100);
  auto b = allocator.allocate(250);
  EXPECT_EQ(allocator.current_bytes(), 350u);
  EXPECT_EQ(allocator.peak_bytes(), 350u);
  a.reset();
  EXPECT_EQ(allocator.current_bytes(), 250u);
  auto c = allocator.allocate(50);
  EXPECT_EQ(allocator.current_bytes(), 300u);
  EXPECT_EQ(allocator.peak_bytes(), 350u);
  auto d = allocator.allocate(200);
  EXPECT_EQ(allocator.peak_bytes(), 500u);
  b.reset(), c.reset(), d.reset();
  EXPECT_EQ(allocator.current_bytes(), 0u);
  EXPECT_EQ(allocator.peak_bytes(), 500u);

  // A buffer that outlives its allocator still reports its release safely.
  auto survivor = std::make_unique<ActivationAllocator>();
  auto kept = survivor->allocate(64);
  survivor.reset();
  kept.reset();
}

TEST(ActivationAllocatorTest, ReplayAccountsLikeTheHeap) {
  ActivationAllocator allocator;
  allocator.begin_capture();
  {
    auto a = allocator.allocate(1000);
    auto b = allocator.allocate(3000);
  }
  allocator.end_capture();
  allocator.begin_replay();
  const size_t before = allocator.current_bytes();
  {
    auto a = allocator.allocate(1000);
    EXPECT_EQ(allocator.current_bytes(), before + 1000);
    auto b = allocator.allocate(3000);
    EXPECT_EQ(allocator.current_bytes(), before + 4000);
  }
  EXPECT_EQ(allocator.current_bytes(), before);
  EXPECT_GE(allocator.peak_bytes(), 4000u);
}

TEST(DeviceMemoryTest, TensorsAndViewsReturnTheirBytes) {
  Device device(1);
  const TensorSpec spec{{1, 3, 5, 17}, DataType::FLOAT32, Layout::TILE, {}};
  Tensor t = device.allocate(spec);
  EXPECT_EQ(device.current_bytes(), spec.bytes());
  EXPECT_EQ(spec.bytes(), size_t(15 * 32 * 4));  // TILE pads 17 channels to 32
  Tensor view = t.channel_slice(3, 5);
  deallocate(t);
  EXPECT_FALSE(t.is_allocated());
  EXPECT_EQ(device.current_bytes(), spec.bytes());  // the view still uses it
  deallocate(view);
  EXPECT_EQ(device.current_bytes(), 0u);
  EXPECT_EQ(device.peak_bytes(), spec.bytes());
}

}  // namespace
}  // namespace yolo4
