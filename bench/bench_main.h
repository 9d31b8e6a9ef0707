// What every Google Benchmark program here shares after parsing its own flags: running the
// registered benchmarks, and a main that turns an exception (an unknown ISA, one this CPU lacks)
// into one line on stderr and exit code 2.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdio>
#include <exception>
#include <vector>

namespace yolo4::bench {

// Runs the registered benchmarks; `args` is argv[0] and Google Benchmark's own flags.
inline int run_registered(std::vector<char*>& args) {
  int argc = int(args.size());
  benchmark::Initialize(&argc, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

inline int guarded_main(const char* program, int (*run)(int, char**), int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  }
}

}  // namespace yolo4::bench
