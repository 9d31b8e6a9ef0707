#include "yolo4/core/thread_pool.h"

#include <pthread.h>
#include <sched.h>
#include <xmmintrin.h>

#include "yolo4/core/error.h"

namespace yolo4 {

namespace {
// Spinning briefly before sleeping keeps op-to-op hand-off in the microseconds.
constexpr int kSpinIterations = 20000;
inline void cpu_relax() {
  __builtin_ia32_pause();
}

// The CPUs this process may run on, in order; one per core, or none if there are too few. Read
// once, before any pool pins its creating thread to one of them.
std::vector<int> cpus_for(int threads) {
  static const cpu_set_t allowed = [] {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) CPU_ZERO(&set);
    return set;
  }();
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE && int(cpus.size()) < threads; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
  }
  if (int(cpus.size()) < threads) cpus.clear();
  return cpus;
}

// Denormal operands and results cost Intel cores a microcode assist per instruction: on random
// weights, whose deep activations underflow, some of YOLOv4's 1x1 convs took 2.5-10x their time
// (Xeon, docs/perf.md). The pool's threads flush them to zero (MXCSR FTZ and DAZ), as inference
// engines do; the caller's own setting comes back when run() returns.
constexpr unsigned kFlushDenormals = 0x8040;

class FlushDenormalsScope {
 public:
  FlushDenormalsScope() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushDenormals); }
  ~FlushDenormalsScope() { _mm_setcsr(saved_); }
  FlushDenormalsScope(const FlushDenormalsScope&) = delete;
  FlushDenormalsScope& operator=(const FlushDenormalsScope&) = delete;

 private:
  unsigned saved_;
};

void pin_current_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);  // best effort: floating is correct
}

}  // namespace

ThreadPool::ThreadPool(int threads, ThreadPinning pinning) {
  YOLO4_CHECK(threads >= 1, "thread count must be at least 1, got ", threads);
  if (pinning == ThreadPinning::kPinned && threads > 1) cpus_ = cpus_for(threads);
  if (pinned()) {
    restore_creator_ =
        pthread_getaffinity_np(creator_, sizeof(creator_affinity_), &creator_affinity_) == 0;
    pin_current_thread(cpus_[0]);
  }
  for (int core = 1; core < threads; ++core)
    workers_.emplace_back([this, core] { worker_loop(core); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    published_.store(++generation_, std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread& t : workers_) t.join();
  if (restore_creator_ && pthread_equal(pthread_self(), creator_)) {
    pthread_setaffinity_np(creator_, sizeof(creator_affinity_), &creator_affinity_);
  }
}

void ThreadPool::run(int cores, const std::function<void(int)>& task) {
  YOLO4_CHECK(cores >= 1 && cores <= size(), "asked to run on ", cores, " cores of a ", size(),
              "-core pool");
  const FlushDenormalsScope flush_denormals;
  if (cores == 1) return task(0);
  {
    std::lock_guard lock(mutex_);
    task_ = &task;
    active_cores_ = cores;
    pending_.store(cores - 1, std::memory_order_relaxed);
    published_.store(++generation_, std::memory_order_release);
  }
  wake_.notify_all();
  try {
    task(0);
  } catch (...) {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = std::current_exception();
  }
  while (pending_.load(std::memory_order_acquire) != 0) cpu_relax();
  std::exception_ptr error;
  {
    std::lock_guard lock(mutex_);
    std::swap(error, error_);
  }
  if (error) std::rethrow_exception(error);
}

void ThreadPool::worker_loop(int core) {
  if (pinned()) pin_current_thread(cpus_[size_t(core)]);
  _mm_setcsr(_mm_getcsr() | kFlushDenormals);
  uint64_t seen = 0;
  for (;;) {
    for (int i = 0; i < kSpinIterations && published_.load(std::memory_order_acquire) == seen;
         ++i) {
      cpu_relax();
    }
    std::unique_lock lock(mutex_);
    wake_.wait(lock, [&] { return generation_ != seen; });
    seen = generation_;
    if (stopping_) return;
    const std::function<void(int)>* task = task_;
    const bool participates = core < active_cores_;
    lock.unlock();
    if (participates) {
      try {
        (*task)(core);
      } catch (...) {
        std::lock_guard error_lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
}

}  // namespace yolo4
