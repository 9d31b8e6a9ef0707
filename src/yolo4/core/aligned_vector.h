// Vectors whose data starts on a cache line: what the kernels load whole SIMD vectors from
// (packed weights, their decoded copies, scratch). A 64-byte load that straddles two lines costs
// a second access, and malloc's 16-byte alignment left that to chance: which layers' weights
// straddled changed with unrelated allocations (measured: YOLOv4's 10x10 and 20x20 Winograd
// convs 1.3-1.6x slower single-threaded after such a change).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace yolo4 {

inline constexpr size_t kCacheLineBytes = 64;

// Where a prefetch brings its line: into L1 (prefetcht0), or only as far as L2 (prefetcht2),
// which leaves L1's few fill buffers to the loads: on a Xeon a weight stream prefetched that way
// ran 0.72-0.74x the time (docs/perf.md, 2026-12-04).
enum class PrefetchTo { kL1, kL2 };

// Prefetches the line `distance` bytes past `p`. The sum is integer arithmetic: the address may
// lie past the end of p's buffer, which is harmless for a prefetch but not for a pointer.
template <PrefetchTo To = PrefetchTo::kL1>
[[gnu::always_inline]] inline void prefetch_ahead(const void* p, uintptr_t distance) {
  constexpr int kLocality = To == PrefetchTo::kL1 ? 3 : 1;
  __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(p) + distance), 0,
                     kLocality);
}

// Where an allocator's bytes come from: the heap, on cache lines.
struct CacheAlignedHeap {
  static void* allocate(size_t bytes) {
    return ::operator new(bytes, std::align_val_t(kCacheLineBytes));
  }
  static void release(void* p, size_t) { ::operator delete(p, std::align_val_t(kCacheLineBytes)); }
};

// A standard allocator over a memory source (CacheAlignedHeap, or huge_pages.h's HugePagePool).
template <class T, class Source = CacheAlignedHeap>
struct CacheAlignedAllocator {
  using value_type = T;
  CacheAlignedAllocator() = default;
  template <class U>
  CacheAlignedAllocator(const CacheAlignedAllocator<U, Source>&) {}
  T* allocate(size_t n) { return static_cast<T*>(Source::allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { Source::release(p, n * sizeof(T)); }
  friend bool operator==(const CacheAlignedAllocator&, const CacheAlignedAllocator&) {
    return true;
  }
};

template <class T>
using AlignedVector = std::vector<T, CacheAlignedAllocator<T>>;

}  // namespace yolo4
