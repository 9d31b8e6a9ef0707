// Each core's share of an op's blocks, taken from the front by the core that owns it and from the
// back by cores that have finished their own. A core keeps its own shard (cache-warm for the next
// op, as the report's sharding intends), and a core slowed by anything else the machine runs no
// longer holds the others up: on a 2-vCPU cloud VM the cores' busy times per inference were
// 10-28% apart (AMD Zen 5, YOLOv4 at 320), all of it waited for at the ends of ops (docs/perf.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

namespace yolo4 {

class ShareQueue {
 public:
  // blocks(c): the number of blocks of core c's share, for c < cores.
  template <class BlocksOf>
  ShareQueue(int cores, BlocksOf blocks)
      : cores_(cores), heap_(cores > kInlineCores ? new Share[size_t(cores)] : nullptr) {
    for (int c = 0; c < cores; ++c) share(c).store(pack(0, uint32_t(blocks(c))));
  }

  struct Claim {
    int owner;  // whose share the block is in
    int block;  // its index there
  };

  // The next block for `core`: the front of its own share, else (where `steal`: the cores' shares
  // are interchangeable work) the back of another's, the next cores' first; nothing once every
  // share it may take from is empty.
  std::optional<Claim> next(int core, bool steal) {
    if (auto block = take(core, /*front=*/true)) return Claim{core, *block};
    for (int i = 1; steal && i < cores_; ++i) {
      const int owner = (core + i) % cores_;
      if (auto block = take(owner, /*front=*/false)) {
        taken_.fetch_add(1, std::memory_order_relaxed);
        return Claim{owner, *block};
      }
    }
    return std::nullopt;
  }

  // Blocks taken from another core's share so far.
  int taken() const { return taken_.load(std::memory_order_relaxed); }

 private:
  // [front, back) of the blocks not yet taken, in one word so that one compare-exchange takes
  // a block from either end.
  struct alignas(64) Share {
    std::atomic<uint64_t> range;
  };
  // Ops run on every inference: no allocation for the usual core counts.
  static constexpr int kInlineCores = 16;

  static uint64_t pack(uint32_t front, uint32_t back) { return uint64_t(front) << 32 | back; }
  std::atomic<uint64_t>& share(int core) {
    return (heap_ ? heap_.get() : inline_)[size_t(core)].range;
  }

  std::optional<int> take(int owner, bool front) {
    std::atomic<uint64_t>& range = share(owner);
    uint64_t seen = range.load(std::memory_order_relaxed);
    for (;;) {
      const uint32_t first = uint32_t(seen >> 32), end = uint32_t(seen);
      if (first >= end) return std::nullopt;
      const uint64_t rest = front ? pack(first + 1, end) : pack(first, end - 1);
      if (range.compare_exchange_weak(seen, rest, std::memory_order_relaxed)) {
        return int(front ? first : end - 1);
      }
    }
  }

  int cores_;
  std::atomic<int> taken_{0};
  Share inline_[kInlineCores];
  std::unique_ptr<Share[]> heap_;
};

}  // namespace yolo4
