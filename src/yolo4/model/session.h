// Runs a network (the Graph, or the YOLOv4 modules) again and again on one device: the first run
// of an input shape captures the op sequence and the tensor lifetimes and plans the arena
// (TT-NN's trace capture); every later run replays it with no allocation.
#pragma once

#include <utility>

#include "yolo4/core/device.h"

namespace yolo4 {

template <class Network>
class InferenceSession {
 public:
  using Heads = decltype(std::declval<const Network&>()(std::declval<Device&>(),
                                                        std::declval<const Tensor&>()));

  InferenceSession(const Network& network, Device& device) : network_(network), device_(device) {}

  // The returned heads live in the arena until the next run.
  const Heads& run(const Tensor& input) {
    ActivationAllocator& allocator = device_.allocator();
    for (Tensor& t : previous_) deallocate(t);
    if (planned_for_ == input.shape()) {
      allocator.begin_replay();
      previous_ = network_(device_, input);
      return previous_;
    }
    allocator.begin_capture();
    previous_ = network_(device_, input);
    allocator.end_capture();
    planned_for_ = input.shape();
    return previous_;
  }
  size_t arena_bytes() const { return device_.allocator().arena_bytes(); }
  size_t lower_bound_bytes() const { return device_.allocator().lower_bound_bytes(); }

 private:
  const Network& network_;
  Device& device_;
  Shape planned_for_;
  Heads previous_;
};

}  // namespace yolo4
