#include "yolo4/core/jobs.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <numeric>
#include <thread>
#include <vector>

#include "yolo4/core/device.h"

namespace yolo4 {

void run_jobs(std::span<const size_t> costs, int threads, const std::function<void(size_t)>& job) {
  const size_t count = costs.size();
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  std::vector<std::exception_ptr> errors(count);
  std::atomic<size_t> next{0};
  const auto work = [&] {
    for (size_t k = next++; k < count; k = next++) {
      try {
        job(order[k]);
      } catch (...) {
        errors[order[k]] = std::current_exception();
      }
    }
  };
  const size_t wanted = threads > 0 ? size_t(threads) : size_t(usable_cpu_count());
  std::vector<std::jthread> helpers;
  for (size_t t = 1; t < std::min(wanted, count); ++t) helpers.emplace_back(work);
  work();
  helpers.clear();  // joins
  for (const std::exception_ptr& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace yolo4
