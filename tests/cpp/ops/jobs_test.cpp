// run_jobs: every job once, the costliest started first, and errors that do not depend on timing.
#include "yolo4/core/jobs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace yolo4 {
namespace {

TEST(RunJobs, RunsEveryJobOnce) {
  for (int threads : {0, 1, 2, 5}) {
    for (size_t count : {size_t{0}, size_t{1}, size_t{3}, size_t{40}}) {
      std::vector<std::atomic<int>> runs(count);
      const std::vector<size_t> costs(count, 1);
      run_jobs(costs, threads, [&](size_t i) { ++runs[i]; });
      for (size_t i = 0; i < count; ++i) {
        EXPECT_EQ(runs[i].load(), 1) << "job " << i << " of " << count << ", threads " << threads;
      }
    }
  }
}

TEST(RunJobs, StartsTheCostliestFirst) {
  const std::vector<size_t> costs = {5, 90, 7, 90, 1, 30};
  std::vector<size_t> started;
  run_jobs(costs, 1, [&](size_t i) { started.push_back(i); });
  EXPECT_EQ(started, (std::vector<size_t>{1, 3, 5, 2, 0, 4}));  // ties keep their order
}

TEST(RunJobs, RethrowsTheFirstFailingJobInIndexOrder) {
  // Job 7 is the costliest, so it starts first and fails first; job 2's error is the one reported.
  std::vector<size_t> costs(10, 1);
  costs[7] = 100;
  for (int threads : {1, 2, 4}) {
    std::atomic<int> ran{0};
    try {
      run_jobs(costs, threads, [&](size_t i) {
        ++ran;
        if (i == 2 || i == 7) throw std::runtime_error("job " + std::to_string(i));
      });
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "job 2") << threads << " threads";
    }
    EXPECT_EQ(ran.load(), 10) << "the other jobs still run, " << threads << " threads";
  }
}

}  // namespace
}  // namespace yolo4
