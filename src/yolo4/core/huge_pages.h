// Memory on 2 MB pages for the large, long-lived buffers the kernels stream: packed weights and
// the activation arena. A TLB entry then covers 512 times what a 4 KB page's does, and a weight
// stream from memory walks the page tables 512 times less often: on an Intel Xeon the network
// took 0.96x its time in fp32 (docs/perf.md, 2026-12-05). Hosts whose transparent huge pages are
// "madvise" (Debian's default) give them only where asked, hence madvise(MADV_HUGEPAGE) here.
//
// Buffers of kHugePageMinBytes or more are carved from 2 MB-aligned chunks that the pool maps
// and advises before anything touches them; a chunk goes back to the system when its last buffer
// is released. Smaller buffers, and every buffer under AddressSanitizer (which only checks heap
// memory), come from operator new.
#pragma once

#include <cstddef>
#include <vector>

#include "yolo4/core/aligned_vector.h"

namespace yolo4 {

inline constexpr size_t kHugePageBytes = size_t(2) << 20;
inline constexpr size_t kHugePageMinBytes = size_t(64) << 10;

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kHugePagePooled = false;  // AddressSanitizer checks heap buffers only
#else
inline constexpr bool kHugePagePooled = true;
#endif

// A memory source for CacheAlignedAllocator: buffers aligned to a cache line, from the pool or
// the heap by size; release with the same size.
struct HugePagePool {
  static void* allocate(size_t bytes);
  static void release(void* p, size_t bytes);
  // Bytes the pool holds mapped (its chunks, used or not): for tests and diagnostics.
  static size_t mapped_bytes();
};

// A vector for packed weights: cache-line aligned, on 2 MB pages when large.
template <class T>
using HugePageVector = std::vector<T, CacheAlignedAllocator<T, HugePagePool>>;

}  // namespace yolo4
