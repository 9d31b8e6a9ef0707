// Independent jobs shared out over threads, for work outside an op (loading and packing a
// model). Plain threads, not a Device's pool: they run in the default floating-point mode (the
// pool flushes denormals) wherever the OS puts them.
#pragma once

#include <cstddef>
#include <functional>
#include <span>

namespace yolo4 {

// Runs job(i) for every i < costs.size(), the costliest started first (so that no long job
// starts last), on `threads` threads (0: one per usable CPU; never more than there are jobs),
// the calling thread one of them. If jobs throw, the others still run, then the exception of the
// smallest i that threw is rethrown: which error is reported does not depend on timing.
void run_jobs(std::span<const size_t> costs, int threads, const std::function<void(size_t)>& job);

}  // namespace yolo4
