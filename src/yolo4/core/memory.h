// Activation memory: eager heap allocations, or a static arena plan captured once and replayed
// with no allocation at all (the report's deallocate calls become tensor lifetimes).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "yolo4/core/tensor.h"

namespace yolo4 {

// One allocation seen during capture: its size and the interval of allocation events during
// which it was live. Freed buffers that outlive the capture end at the last event.
struct Lifetime {
  size_t bytes = 0;
  int first = 0;  // event index of its allocation
  int last = 0;   // event index at which it was released
};

struct ArenaPlan {
  std::vector<size_t> offsets;  // one per allocation, in allocation order
  size_t arena_bytes = 0;
};

// Places every allocation at an offset so that no two with overlapping lifetimes overlap in
// memory: largest first, each at the lowest offset that fits (as XNNPACK's planner).
ArenaPlan plan_arena(const std::vector<Lifetime>& lifetimes);

// The largest sum of simultaneously live bytes: no plan can use less.
size_t live_bytes_lower_bound(const std::vector<Lifetime>& lifetimes);

class ActivationAllocator {
 public:
  enum class Mode { kHeap, kCapture, kReplay };
  struct State;  // shared with the buffers it hands out (defined in memory.cpp)

  ActivationAllocator();
  ~ActivationAllocator();
  ActivationAllocator(const ActivationAllocator&) = delete;
  ActivationAllocator& operator=(const ActivationAllocator&) = delete;

  std::shared_ptr<Buffer> allocate(size_t bytes);

  // Capture: allocations come from the heap and their lifetimes are recorded.
  void begin_capture();
  // Ends the capture and plans the arena; later passes must call begin_replay() first.
  void end_capture();
  // Replay: the i-th allocation of a pass gets the i-th planned slot; no memory is allocated.
  void begin_replay();
  Mode mode() const { return mode_; }

  size_t current_bytes() const;
  size_t peak_bytes() const;
  size_t arena_bytes() const;  // 0 until a plan exists
  size_t lower_bound_bytes() const;  // from the captured lifetimes; 0 before a capture
  // Fills the arena with a NaN pattern: a test poisons between replays to prove no stale data
  // is read.
  void poison_arena();

 private:
  std::shared_ptr<State> state_;  // buffers keep it alive to report their release
  Mode mode_ = Mode::kHeap;
};

}  // namespace yolo4
