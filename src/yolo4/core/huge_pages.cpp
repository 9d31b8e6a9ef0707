#include "yolo4/core/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>
#include <list>
#include <mutex>

namespace yolo4 {

namespace {

// A chunk's address space; only the pages its buffers touch become resident.
constexpr size_t kChunkBytes = size_t(64) << 20;

// Space left after each buffer so that buffers of the same size, carved one after another, do
// not start on the same cache sets. A Winograd conv's 16-36 weight matrices are such buffers,
// each a multiple of 128 KB (an L2 way here), and its GEMMs read the same panel of all of them
// in turn: packed back to back, the same panel of every matrix fell on the same L2 sets, 16-36
// lines for 16 ways, and the network's 512 -> 1024 convs gained nothing from huge pages (12.46
// -> 12.30 ms; with this stagger 11.6).
constexpr size_t kStaggerBytes = 4096 + kCacheLineBytes;

size_t round_up(size_t n, size_t to) {
  return (n + to - 1) / to * to;
}

// `bytes` (a multiple of kHugePageBytes) of fresh memory starting on a 2 MB boundary, advised
// to the kernel for huge pages before anything touches it.
std::byte* map_huge(size_t bytes) {
  const size_t span = bytes + kHugePageBytes;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t start = round_up(begin, kHugePageBytes), end = start + bytes;
  if (start > begin) munmap(raw, start - begin);
  if (begin + span > end) munmap(reinterpret_cast<void*>(end), begin + span - end);
  // Best effort: where the host has transparent huge pages off, this is 4 KB pages as before.
  madvise(reinterpret_cast<void*>(start), bytes, MADV_HUGEPAGE);
  return reinterpret_cast<std::byte*>(start);
}

struct Chunk {
  std::byte* base;
  size_t bytes;
  size_t used = 0;
  int live = 0;  // buffers not yet released
};

// Buffers are carved in order from the newest chunk (bump allocation): weights are allocated
// when a model is built and released together when it goes.
class Pool {
 public:
  void* allocate(size_t bytes) {
    const size_t size = round_up(bytes, kCacheLineBytes) + kStaggerBytes;
    std::lock_guard lock(mutex_);
    if (size > kChunkBytes / 2) return carve(map_chunk(round_up(size, kHugePageBytes)), size);
    if (!current_ || current_->used + size > current_->bytes) current_ = &map_chunk(kChunkBytes);
    return carve(*current_, size);
  }

  void release(void* p) {
    std::lock_guard lock(mutex_);
    const auto* at = static_cast<const std::byte*>(p);
    for (auto c = chunks_.begin(); c != chunks_.end(); ++c) {
      if (at < c->base || at >= c->base + c->bytes) continue;
      if (--c->live == 0) {
        if (&*c == current_) current_ = nullptr;
        munmap(c->base, c->bytes);
        chunks_.erase(c);
      }
      return;
    }
  }

  size_t mapped_bytes() {
    std::lock_guard lock(mutex_);
    size_t total = 0;
    for (const Chunk& c : chunks_) total += c.bytes;
    return total;
  }

 private:
  Chunk& map_chunk(size_t bytes) { return chunks_.emplace_back(Chunk{map_huge(bytes), bytes}); }

  static void* carve(Chunk& c, size_t size) {
    void* p = c.base + c.used;
    c.used += size;
    ++c.live;
    return p;
  }

  std::mutex mutex_;
  std::list<Chunk> chunks_;  // a list: current_ stays valid as chunks come and go
  Chunk* current_ = nullptr;
};

// Never destroyed: buffers owned by other statics may be released after it would have been.
Pool& pool() {
  static Pool* const instance = new Pool;
  return *instance;
}

bool pooled(size_t bytes) {
  return kHugePagePooled && bytes >= kHugePageMinBytes;
}

}  // namespace

void* HugePagePool::allocate(size_t bytes) {
  return pooled(bytes) ? pool().allocate(bytes) : CacheAlignedHeap::allocate(bytes);
}

void HugePagePool::release(void* p, size_t bytes) {
  if (!p) return;
  if (pooled(bytes)) return pool().release(p);
  CacheAlignedHeap::release(p, bytes);
}

size_t HugePagePool::mapped_bytes() {
  return pool().mapped_bytes();
}

}  // namespace yolo4
