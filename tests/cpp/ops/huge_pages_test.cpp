// core/huge_pages.h: buffers that do not overlap, keep their alignment and contents, stagger,
// are advised for huge pages, and go back to the system when released.
#include "yolo4/core/huge_pages.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace yolo4 {
namespace {

uintptr_t address(const void* p) {
  return reinterpret_cast<uintptr_t>(p);
}

// The "THPeligible" line of the /proc/self/smaps mapping holding p: whether its pages may be
// huge ones (needs a kernel that reports it; -1 where not found).
int thp_eligible(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> begin >> dash >> end && dash == '-') {
      inside = address(p) >= begin && address(p) < end;
    } else if (inside && line.rfind("THPeligible:", 0) == 0) {
      return std::stoi(line.substr(12));
    }
  }
  return -1;
}

// The host's transparent huge page mode: "always", "madvise" or "never" ("" if unknown).
std::string host_thp_mode() {
  std::ifstream enabled("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(enabled, modes);
  const size_t open = modes.find('['), close = modes.find(']');
  return open == std::string::npos || close < open ? "" : modes.substr(open + 1, close - open - 1);
}

TEST(HugePages, BuffersAreAlignedDisjointAndKeepTheirContents) {
  const std::vector<size_t> sizes = {
      100, kHugePageMinBytes - 1, kHugePageMinBytes, 256 << 10, 3 << 20, 40 << 20, 129 << 10};
  std::vector<std::byte*> buffers;
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto* p = static_cast<std::byte*>(HugePagePool::allocate(sizes[i]));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(address(p) % kCacheLineBytes, 0u) << sizes[i] << " bytes";
    std::memset(p, int(i + 1), sizes[i]);
    buffers.push_back(p);
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    for (size_t j = 0; j < sizes.size(); ++j) {
      if (i == j) continue;
      const bool disjoint = address(buffers[i]) + sizes[i] <= address(buffers[j]) ||
                            address(buffers[j]) + sizes[j] <= address(buffers[i]);
      EXPECT_TRUE(disjoint) << "buffers " << i << " and " << j;
    }
    // Every byte still holds its buffer's value: no other buffer wrote over it.
    for (size_t b = 0; b < sizes[i]; b += 997) ASSERT_EQ(int(buffers[i][b]), int(i + 1));
    ASSERT_EQ(int(buffers[i][sizes[i] - 1]), int(i + 1));
  }
  for (size_t i = 0; i < sizes.size(); ++i) HugePagePool::release(buffers[i], sizes[i]);
}

TEST(HugePages, ChunksGoBackWhenTheirLastBufferIsReleased) {
  if (!kHugePagePooled) GTEST_SKIP() << "AddressSanitizer: every buffer comes from the heap";
  const size_t before = HugePagePool::mapped_bytes();
  void* small = HugePagePool::allocate(1 << 20);
  void* large = HugePagePool::allocate(100 << 20);  // its own chunk
  EXPECT_GT(HugePagePool::mapped_bytes(), before);
  HugePagePool::release(large, 100 << 20);
  HugePagePool::release(small, 1 << 20);
  EXPECT_EQ(HugePagePool::mapped_bytes(), before);
}

TEST(HugePages, BuffersOfOneSizeDoNotStartOnTheSameCacheSets) {
  if (!kHugePagePooled) GTEST_SKIP() << "AddressSanitizer: every buffer comes from the heap";
  // Winograd's weight matrices: sizes that are multiples of 128 KB, one L2 way on the Xeon.
  constexpr size_t kBytes = 512 << 10, kWay = 128 << 10;
  std::vector<void*> matrices;
  for (int i = 0; i < 16; ++i) matrices.push_back(HugePagePool::allocate(kBytes));
  for (int i = 1; i < 16; ++i) {
    EXPECT_NE(address(matrices[size_t(i)]) % kWay, address(matrices[size_t(i - 1)]) % kWay)
        << "matrix " << i;
  }
  for (void* m : matrices) HugePagePool::release(m, kBytes);
}

TEST(HugePages, LargeBuffersAreAdvisedForHugePages) {
  if (!kHugePagePooled) GTEST_SKIP() << "AddressSanitizer: every buffer comes from the heap";
  const std::string mode = host_thp_mode();
  if (mode != "always" && mode != "madvise") GTEST_SKIP() << "no transparent huge pages here";
  void* p = HugePagePool::allocate(4 << 20);
  const int eligible = thp_eligible(p);
  if (eligible < 0) {
    HugePagePool::release(p, 4 << 20);
    GTEST_SKIP() << "this kernel's smaps has no THPeligible";
  }
  EXPECT_EQ(eligible, 1);
  if (mode == "madvise") {  // malloc's memory, for contrast: not advised
    void* q = ::operator new(4 << 20);
    EXPECT_EQ(thp_eligible(q), 0);
    ::operator delete(q);
  }
  HugePagePool::release(p, 4 << 20);
}

TEST(HugePages, VectorsUseThePool) {
  HugePageVector<float> weights(1 << 20, 1.5f);
  EXPECT_EQ(address(weights.data()) % kCacheLineBytes, 0u);
  EXPECT_EQ(weights.front(), 1.5f);
  EXPECT_EQ(weights.back(), 1.5f);
  weights.resize(3 << 20, 2.0f);  // reallocates: the old buffer goes back
  EXPECT_EQ(weights[0], 1.5f);
  EXPECT_EQ(weights.back(), 2.0f);
}

}  // namespace
}  // namespace yolo4
