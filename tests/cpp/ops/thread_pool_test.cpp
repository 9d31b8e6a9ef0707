// core/thread_pool.h: every core of a run runs exactly once, on its own thread, and run() waits.
#include "yolo4/core/thread_pool.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <xmmintrin.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "yolo4/core/error.h"

namespace yolo4 {
namespace {

// Counts how often each core index ran in one run(cores) call.
std::vector<int> run_counts(ThreadPool& pool, int cores) {
  std::vector<std::atomic<int>> counts(pool.size());
  pool.run(cores, [&](int core) {
    ASSERT_GE(core, 0);
    ASSERT_LT(core, pool.size());
    counts[core].fetch_add(1, std::memory_order_relaxed);
  });
  std::vector<int> out;
  for (const auto& c : counts) out.push_back(c.load());
  return out;
}

// Every core runs its task with denormals flushed (MXCSR FTZ and DAZ: Intel cores take a
// microcode assist on each), and the caller gets its own MXCSR back.
TEST(ThreadPoolTest, CoresFlushDenormalsAndTheCallerKeepsItsSetting) {
  constexpr unsigned kFtzDaz = 0x8040;
  const unsigned caller = _mm_getcsr();
  ASSERT_EQ(caller & kFtzDaz, 0u) << "the test expects the default MXCSR";
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    std::vector<unsigned> csr(size_t(threads), 0);
    std::vector<float> products(size_t(threads), 1.0f);
    volatile float tiny = 1e-30f;  // its square is a denormal result
    pool.run(threads, [&](int core) {
      csr[size_t(core)] = _mm_getcsr();
      products[size_t(core)] = tiny * tiny;
    });
    for (int core = 0; core < threads; ++core) {
      EXPECT_EQ(csr[size_t(core)] & kFtzDaz, kFtzDaz) << "core " << core;
      EXPECT_EQ(products[size_t(core)], 0.0f) << "core " << core;
    }
    EXPECT_EQ(_mm_getcsr(), caller);
  }
}

TEST(ThreadPoolTest, EveryCoreRunsExactlyOncePerRun) {
  for (int threads = 1; threads <= 4; ++threads) {
    ThreadPool pool(threads);
    ASSERT_EQ(pool.size(), threads);
    for (int cores = 1; cores <= threads; ++cores) {
      const auto counts = run_counts(pool, cores);
      for (int core = 0; core < threads; ++core) {
        // Cores beyond `cores` must not run: fewer cores than the pool is a valid run.
        EXPECT_EQ(counts[core], core < cores ? 1 : 0)
            << "pool of " << threads << ", run on " << cores << ", core " << core;
      }
    }
  }
}

TEST(ThreadPoolTest, RepeatedRunsOfVaryingWidth) {
  ThreadPool pool(3);
  std::vector<int> totals(3, 0), expected(3, 0);
  for (int i = 0; i < 600; ++i) {
    const int cores = 1 + i % 3;
    // Plain (non-atomic) writes per core: run() returning must publish them to the caller.
    std::vector<int> wrote(3, 0);
    pool.run(cores, [&](int core) { wrote[core] += 1; });
    for (int core = 0; core < 3; ++core) {
      totals[core] += wrote[core];
      expected[core] += core < cores ? 1 : 0;
    }
  }
  EXPECT_EQ(totals, expected);
}

TEST(ThreadPoolTest, RunWaitsForEveryCore) {
  ThreadPool pool(3);
  std::vector<int> done(3, 0);
  pool.run(3, [&](int core) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5 * core));
    done[core] = 1;
  });
  EXPECT_EQ(done, std::vector<int>(3, 1));
}

TEST(ThreadPoolTest, EachCoreStaysOnItsThread) {
  ThreadPool pool(3);
  std::vector<std::thread::id> first(3);
  pool.run(3, [&](int core) { first[core] = std::this_thread::get_id(); });
  EXPECT_EQ(first[0], std::this_thread::get_id());  // the caller is core 0
  EXPECT_NE(first[1], first[0]);
  EXPECT_NE(first[2], first[0]);
  EXPECT_NE(first[1], first[2]);
  for (int i = 0; i < 200; ++i) {
    std::vector<std::thread::id> ids(3);
    pool.run(1 + i % 3, [&](int core) { ids[core] = std::this_thread::get_id(); });
    for (int core = 0; core <= i % 3; ++core) EXPECT_EQ(ids[core], first[core]) << "run " << i;
  }
}

TEST(ThreadPoolTest, RejectsBadCoreCounts) {
  EXPECT_THROW(ThreadPool(0), Error);
  ThreadPool pool(2);
  EXPECT_THROW(pool.run(0, [](int) {}), Error);
  EXPECT_THROW(pool.run(3, [](int) {}), Error);
  EXPECT_EQ(run_counts(pool, 2), (std::vector<int>{1, 1}));  // still usable afterwards
}

TEST(ThreadPoolTest, CreatedAndDestroyedWithoutRunning) {
  for (int i = 0; i < 20; ++i) ThreadPool pool(1 + i % 4);
}

}  // namespace
}  // namespace yolo4

namespace yolo4 {
namespace {

TEST(ThreadPoolExceptions, RunWaitsForEveryCoreThenRethrows) {
  ThreadPool pool(3);
  for (int thrower : {0, 1, 2}) {
    std::atomic<int> finished{0};
    EXPECT_THROW(pool.run(3,
                          [&](int core) {
                            if (core == thrower) throw Error("boom");
                            std::this_thread::sleep_for(std::chrono::milliseconds(5));
                            finished.fetch_add(1);
                          }),
                 Error);
    EXPECT_EQ(finished.load(), 2) << "thrower " << thrower;
  }
  std::atomic<int> runs{0};
  pool.run(3, [&](int) { runs.fetch_add(1); });  // still usable
  EXPECT_EQ(runs.load(), 3);
}

cpu_set_t current_affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
  return set;
}

// Pinned: core c runs on the c-th usable CPU, the creating thread included, and the creator's
// affinity is back as it was once the pool is gone.
TEST(ThreadPoolPinning, EachCoreOnItsOwnCpuAndTheCallerRestored) {
  const cpu_set_t before = current_affinity();
  std::vector<int> usable;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &before)) usable.push_back(cpu);
  }
  if (usable.size() < 2) GTEST_SKIP() << "needs 2 usable CPUs";
  {
    ThreadPool pool(2);
    ASSERT_TRUE(pool.pinned());
    std::vector<int> ran_on(2, -1);
    for (int repeat = 0; repeat < 20; ++repeat) {
      pool.run(2, [&](int core) {
        const int cpu = sched_getcpu();
        if (ran_on[core] == -1 || ran_on[core] == cpu)
          ran_on[core] = cpu;
        else
          ran_on[core] = -2;  // moved
      });
    }
    EXPECT_EQ(ran_on[0], usable[0]);
    EXPECT_EQ(ran_on[1], usable[1]);
  }
  const cpu_set_t after = current_affinity();
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

TEST(ThreadPoolPinning, FloatsWhenAskedOrWithMoreThreadsThanCpus) {
  EXPECT_FALSE(ThreadPool(2, ThreadPinning::kFloating).pinned());
  EXPECT_FALSE(ThreadPool(1).pinned());  // nothing to place
  const cpu_set_t mask = current_affinity();
  ThreadPool crowded(CPU_COUNT(&mask) + 1);
  EXPECT_FALSE(crowded.pinned());
  std::atomic<int> runs{0};
  crowded.run(crowded.size(), [&](int) { runs.fetch_add(1); });
  EXPECT_EQ(runs.load(), crowded.size());
}

}  // namespace
}  // namespace yolo4
