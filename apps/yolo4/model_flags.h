// The flags shared by every command that runs the network, and what they build.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "args.h"
#include "yolo4/core/thread_pool.h"
#include "yolo4/loaders/darknet_cfg.h"
#include "yolo4/model/options.h"
#include "yolo4/model/weights.h"

namespace yolo4::cli {

// The fastest configuration that keeps PCC >= 0.99 against fp32 on every module and head (the
// model tests check it); docs/perf.md has the measurements behind the choice.
inline constexpr const char* kDefaultPreset = "fast";

struct ModelFlags {
  std::string weights;  // empty: deterministic random weights
  std::string cfg;
  int size = 320;
  int threads = 0;  // 0: one per core
  // Empty: the preset's. The preset sets all three; a flag given explicitly overrides it.
  std::string dtype, weights_dtype, fidelity, isa;
  std::string preset = kDefaultPreset;
  bool approx = false;
  bool no_winograd = false;
  bool no_pin = false;

  // weights_help says what an empty --weights means for this command.
  void add_to(ArgParser& parser, const std::string& weights_help);
  ModelOptions options() const;
  std::optional<DarknetCfg> load_cfg() const;
  Yolov4Weights load_weights(const DarknetCfg* cfg) const;
  int thread_count() const;
  ThreadPinning pinning() const;
};

}  // namespace yolo4::cli
