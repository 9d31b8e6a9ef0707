#include "yolo4/core/memory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>

#include "yolo4/core/error.h"
#include "yolo4/core/huge_pages.h"

namespace yolo4 {

namespace {
constexpr size_t kAlignment = 64;
size_t align_up(size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

bool overlap_in_time(const Lifetime& a, const Lifetime& b) {
  return a.first <= b.last && b.first <= a.last;
}
}  // namespace

ArenaPlan plan_arena(const std::vector<Lifetime>& lifetimes) {
  std::vector<int> order(lifetimes.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return lifetimes[a].bytes > lifetimes[b].bytes; });
  ArenaPlan plan;
  plan.offsets.assign(lifetimes.size(), 0);
  std::vector<int> placed;
  for (int i : order) {
    const size_t size = align_up(lifetimes[i].bytes);
    // Candidate offsets: 0 and the end of every placed, time-overlapping allocation.
    std::vector<std::pair<size_t, size_t>> busy;
    for (int j : placed) {
      if (overlap_in_time(lifetimes[i], lifetimes[j])) {
        busy.emplace_back(plan.offsets[j], plan.offsets[j] + align_up(lifetimes[j].bytes));
      }
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + size <= begin) break;
      offset = std::max(offset, end);
    }
    plan.offsets[i] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + size);
    placed.push_back(i);
  }
  return plan;
}

size_t live_bytes_lower_bound(const std::vector<Lifetime>& lifetimes) {
  int events = 0;
  for (const Lifetime& l : lifetimes) events = std::max(events, l.last + 1);
  std::vector<long long> delta(events + 1, 0);
  for (const Lifetime& l : lifetimes) {
    delta[l.first] += l.bytes;
    delta[l.last + 1] -= l.bytes;
  }
  long long live = 0, peak = 0;
  for (long long d : delta) peak = std::max(peak, live += d);
  return size_t(peak);
}

struct ActivationAllocator::State {
  size_t current = 0, peak = 0;
  int event = 0;                    // allocation events so far in this capture or replay pass
  bool capturing = false;
  int capture_generation = 0;       // buffers of an earlier capture no longer edit lifetimes
  std::vector<Lifetime> lifetimes;  // recorded by a capture
  ArenaPlan plan;
  std::byte* arena = nullptr;  // on huge pages (core/huge_pages.h)
  size_t arena_capacity = 0;   // bytes allocated at `arena`
  size_t lower_bound = 0;

  ~State() { HugePagePool::release(arena, arena_capacity); }
  void on_allocate(size_t bytes) {
    current += bytes;
    peak = std::max(peak, current);
  }
};

namespace {
class HeapBuffer final : public Buffer {
 public:
  HeapBuffer(std::shared_ptr<ActivationAllocator::State> state, size_t bytes, int capture_index)
      : state_(std::move(state)),
        bytes_(bytes),
        capture_index_(capture_index),
        capture_generation_(state_->capture_generation) {
    data_ = static_cast<std::byte*>(std::aligned_alloc(kAlignment, align_up(bytes)));
    YOLO4_CHECK(data_ != nullptr, "out of memory allocating an activation of ", bytes, " bytes");
    state_->on_allocate(bytes);
  }
  ~HeapBuffer() override;
  std::byte* data() const override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  std::shared_ptr<ActivationAllocator::State> state_;
  std::byte* data_;
  size_t bytes_;
  int capture_index_;  // -1 when not capturing
  int capture_generation_;
};

class ArenaSlot final : public Buffer {
 public:
  ArenaSlot(std::shared_ptr<ActivationAllocator::State> state, std::byte* data, size_t bytes)
      : state_(std::move(state)), data_(data), bytes_(bytes) {
    state_->on_allocate(bytes);
  }
  ~ArenaSlot() override { state_->current -= bytes_; }
  std::byte* data() const override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  std::shared_ptr<ActivationAllocator::State> state_;
  std::byte* data_;
  size_t bytes_;
};
}  // namespace

HeapBuffer::~HeapBuffer() {
  std::free(data_);
  state_->current -= bytes_;
  // Live through the last allocation made before this release (of the same capture only).
  if (capture_index_ >= 0 && state_->capturing &&
      capture_generation_ == state_->capture_generation) {
    Lifetime& l = state_->lifetimes[capture_index_];
    l.last = std::max(l.first, state_->event - 1);
  }
}

ActivationAllocator::ActivationAllocator() : state_(std::make_shared<State>()) {}
ActivationAllocator::~ActivationAllocator() = default;

std::shared_ptr<Buffer> ActivationAllocator::allocate(size_t bytes) {
  State& s = *state_;
  switch (mode_) {
    case Mode::kHeap: return std::make_shared<HeapBuffer>(state_, bytes, -1);
    case Mode::kCapture: {
      auto buffer = std::make_shared<HeapBuffer>(state_, bytes, s.event);
      s.lifetimes.push_back({bytes, s.event++, std::numeric_limits<int>::max()});
      return buffer;
    }
    case Mode::kReplay: {
      // Replay checks sizes; lifetimes are the capture's, so a pass must free what it freed.
      const int event = s.event;
      YOLO4_CHECK(size_t(event) < s.lifetimes.size() && s.lifetimes[event].bytes == bytes,
                  "arena replay diverged from the captured plan at allocation ", event,
                  ": asked for ", bytes, " bytes");
      ++s.event;
      return std::make_shared<ArenaSlot>(state_, s.arena + s.plan.offsets[event], bytes);
    }
  }
  fail("unknown allocator mode");
}

void ActivationAllocator::begin_capture() {
  state_->lifetimes.clear();
  state_->event = 0;
  state_->capturing = true;
  ++state_->capture_generation;
  mode_ = Mode::kCapture;
}

void ActivationAllocator::end_capture() {
  YOLO4_CHECK(mode_ == Mode::kCapture, "end_capture() without begin_capture()");
  State& s = *state_;
  s.capturing = false;
  for (Lifetime& l : s.lifetimes) l.last = std::min(l.last, s.event);  // outlived the capture
  s.plan = plan_arena(s.lifetimes);
  s.lower_bound = live_bytes_lower_bound(s.lifetimes);
  HugePagePool::release(s.arena, s.arena_capacity);
  s.arena = nullptr;
  s.arena_capacity = 0;
  const size_t capacity = align_up(s.plan.arena_bytes);
  s.arena = static_cast<std::byte*>(HugePagePool::allocate(capacity));
  s.arena_capacity = capacity;
  mode_ = Mode::kHeap;
}

void ActivationAllocator::begin_replay() {
  YOLO4_CHECK(state_->arena != nullptr, "begin_replay() needs a captured plan");
  state_->event = 0;
  mode_ = Mode::kReplay;
}

size_t ActivationAllocator::current_bytes() const { return state_->current; }
size_t ActivationAllocator::peak_bytes() const { return state_->peak; }
size_t ActivationAllocator::arena_bytes() const { return state_->arena ? state_->plan.arena_bytes : 0; }
size_t ActivationAllocator::lower_bound_bytes() const { return state_->lower_bound; }

void ActivationAllocator::poison_arena() {
  if (state_->arena) std::memset(state_->arena, 0xff, state_->plan.arena_bytes);  // NaN bits
}

}  // namespace yolo4
