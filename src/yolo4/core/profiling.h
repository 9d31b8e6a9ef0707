// What an op reports when someone profiles: the raw material of the perf sheet. Ops time
// themselves only while the device has an observer, so an unprofiled run pays one branch.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "yolo4/core/cpu_features.h"
#include "yolo4/core/math_fidelity.h"
#include "yolo4/core/tensor.h"

namespace yolo4 {

class Device;

struct OpRecord {
  std::string_view op;  // "conv2d", "max_pool2d", "upsample_nearest", "copy", ...
  std::string path;  // module path from the device's scopes, e.g. "down3.resblock.module_list.3.1"
  Shape input, output;
  DataType dtype = DataType::FLOAT32;          // activations
  DataType weights_dtype = DataType::FLOAT32;  // conv weights (float32 for ops without)
  MathFidelity math_fidelity = MathFidelity::HiFi4;
  TensorMemoryLayout shard_layout = TensorMemoryLayout::HEIGHT_SHARDED;
  Isa isa = Isa::kScalar;  // the kernels that ran: the device's (ops with weights check they match)
  int cores = 1;
  int taken = 0;     // blocks a core took from another's share, done with its own (ShareQueue)
  double flops = 0;  // useful FLOPs (direct convolution for convs)
  double bytes = 0;  // activations read and written plus weights read, once each
  int64_t duration_ns = 0;
};

class OpObserver {
 public:
  virtual ~OpObserver() = default;
  virtual void record(const OpRecord& record) = 0;
};

// Times one op from construction to destruction and hands the record to the device's
// observer, if any; fill `record` in between.
class ProfiledOp {
 public:
  ProfiledOp(Device& device, std::string_view op);
  ~ProfiledOp();
  ProfiledOp(const ProfiledOp&) = delete;
  ProfiledOp& operator=(const ProfiledOp&) = delete;

  bool active() const { return observer_ != nullptr; }
  OpRecord record;

 private:
  OpObserver* observer_;
  std::chrono::steady_clock::time_point start_;
};

// Names the module the ops inside it belong to (nested scopes join with '.'). The name is not
// copied: it must outlive the scope (a literal, or a key of the static conv table).
class OpScope {
 public:
  OpScope(Device& device, std::string_view name);
  ~OpScope();
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  Device& device_;
};

}  // namespace yolo4
