// A persistent pool of worker threads, one per core: the CPU's core grid.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace yolo4 {

// Where the pool's threads run. Pinned: core c on the c-th CPU the process may use, the thread
// that creates the pool (core 0) included, restored when that thread destroys the pool, so a
// shard that stays on core c stays on one CPU's caches whatever the OS does. Floating: wherever
// the OS schedules them. With more threads than usable CPUs the pool floats.
enum class ThreadPinning { kPinned, kFloating };

class ThreadPool {
 public:
  // threads >= 1; the caller is thread 0.
  explicit ThreadPool(int threads, ThreadPinning pinning = ThreadPinning::kPinned);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }
  bool pinned() const { return !cpus_.empty(); }

  // Runs task(core) on cores 0..cores-1 at once and waits; core c always runs on the same
  // thread, so a shard that stays on core c stays in that core's caches. If tasks throw, run()
  // still waits for every core, then rethrows the first exception.
  void run(int cores, const std::function<void(int core)>& task);

 private:
  void worker_loop(int core);

  std::vector<int> cpus_;  // the CPU of each core when pinned; empty when floating
  pthread_t creator_ = pthread_self();
  cpu_set_t creator_affinity_;
  bool restore_creator_ = false;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  const std::function<void(int)>* task_ = nullptr;
  int active_cores_ = 0;
  uint64_t generation_ = 0;
  std::atomic<uint64_t> published_{0};
  std::atomic<int> pending_{0};
  bool stopping_ = false;
  std::exception_ptr error_;  // the first exception a task threw in this run
};

}  // namespace yolo4
