// core/share_queue.h: a core takes its own blocks front to back, then, where allowed, the others'
// back to front; every block is taken exactly once, however the cores race.
#include "yolo4/core/share_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "yolo4/core/thread_pool.h"

namespace yolo4 {
namespace {

struct Taken {
  int owner, block;
  bool operator==(const Taken&) const = default;
};

std::vector<Taken> drain(ShareQueue& queue, int core, bool steal) {
  std::vector<Taken> taken;
  while (const auto claim = queue.next(core, steal)) taken.push_back({claim->owner, claim->block});
  return taken;
}

TEST(ShareQueue, OwnBlocksFrontToBackThenTheNextCoresFromTheirBack) {
  ShareQueue queue(3, [](int core) { return core + 1; });  // 1, 2 and 3 blocks
  ASSERT_TRUE(queue.next(2, true).has_value());            // core 2 starts on its block 0
  const std::vector<Taken> expected{{1, 0}, {1, 1}, {2, 2}, {2, 1}, {0, 0}};
  EXPECT_EQ(drain(queue, 1, true), expected);
  EXPECT_FALSE(queue.next(0, true).has_value());
}

TEST(ShareQueue, CoresThatMayNotStealTakeOnlyTheirOwn) {
  ShareQueue queue(2, [](int) { return 3; });
  EXPECT_EQ(drain(queue, 0, false), (std::vector<Taken>{{0, 0}, {0, 1}, {0, 2}}));
  EXPECT_EQ(drain(queue, 0, false), std::vector<Taken>{});
  EXPECT_EQ(drain(queue, 1, false), (std::vector<Taken>{{1, 0}, {1, 1}, {1, 2}}));
}

TEST(ShareQueue, EmptySharesGiveNothing) {
  ShareQueue queue(2, [](int) { return 0; });
  EXPECT_FALSE(queue.next(0, true).has_value());
  EXPECT_FALSE(queue.next(1, true).has_value());
}

// Cores racing for the blocks (one slowed, so that the others steal from it) take each block
// exactly once; more cores than the shares kept inline work alike.
TEST(ShareQueue, RacingCoresTakeEveryBlockOnce) {
  for (int cores : {2, 4, 20}) {
    ThreadPool pool(cores, ThreadPinning::kFloating);
    constexpr int kBlocks = 500;
    ShareQueue queue(cores, [](int) { return kBlocks; });
    std::vector<std::atomic<int>> taken(size_t(cores) * kBlocks);
    std::vector<std::atomic<int>> stolen(static_cast<size_t>(cores));
    pool.run(cores, [&](int core) {
      while (const auto claim = queue.next(core, true)) {
        taken[size_t(claim->owner) * kBlocks + size_t(claim->block)].fetch_add(1);
        if (claim->owner != core) stolen[size_t(core)].fetch_add(1);
        if (core == 0) std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    });
    for (size_t i = 0; i < taken.size(); ++i) ASSERT_EQ(taken[i].load(), 1) << "block " << i;
    int steals = 0;
    for (const auto& s : stolen) steals += s.load();
    EXPECT_GT(steals, 0) << cores << " cores";
  }
}

}  // namespace
}  // namespace yolo4
