#include "yolo4/core/profiling.h"

#include "yolo4/core/device.h"

namespace yolo4 {

ProfiledOp::ProfiledOp(Device& device, std::string_view op) : observer_(device.observer()) {
  if (!observer_) return;
  record.op = op;
  record.path = device.scope_path();
  record.isa = device.isa();
  start_ = std::chrono::steady_clock::now();
}

ProfiledOp::~ProfiledOp() {
  if (!observer_) return;
  record.duration_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - start_)
                           .count();
  observer_->record(record);
}

OpScope::OpScope(Device& device, std::string_view name) : device_(device) {
  device_.push_scope(name);
}

OpScope::~OpScope() { device_.pop_scope(); }

}  // namespace yolo4
