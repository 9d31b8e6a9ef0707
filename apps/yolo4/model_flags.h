// The flags shared by every command that runs the network, and what they build.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "args.h"
#include "yolo4/core/error.h"
#include "yolo4/core/thread_pool.h"
#include "yolo4/loaders/darknet_cfg.h"
#include "yolo4/model/options.h"
#include "yolo4/model/weights.h"
#include "yolo4/pipeline/detector.h"

namespace yolo4::cli {

// auto: per CPU, the fastest preset that keeps PCC >= 0.99 against fp32 on every module and head
// (model/options.h auto_preset; docs/perf.md has the measurements behind the table).
inline constexpr const char* kDefaultPreset = "auto";

// The built-in YOLOv4's default input: the report's 320 (yolov4.cfg itself says 608).
inline constexpr int kDefaultYolov4Size = 320;

// --weights auto could not be downloaded (detect exits with its own code for it).
struct WeightsUnavailable : Error {
  using Error::Error;
};

struct ModelFlags {
  std::string weights;  // empty: deterministic random weights; "auto": the named model's
  std::string cfg;      // empty: the named model's built-in cfg
  std::string model;    // a named model (io/model_zoo); empty: yolov4
  std::string names;
  int size = 0;     // 0: see input_size
  int threads = 0;  // 0: one per core
  // Empty: the preset's. The preset sets all three; a flag given explicitly overrides it.
  std::string dtype, weights_dtype, fidelity, isa;
  std::string preset = kDefaultPreset;
  bool approx = false;
  bool compact_weights = false;
  bool no_winograd = false;
  bool no_pin = false;

  // weights_help says what an empty --weights means for this command.
  void add_to(ArgParser& parser, const std::string& weights_help);
  ModelOptions options() const;
  // The cfg, weights (with 'auto' resolved, downloading when needed) and names to load.
  ModelSource source() const;
  const std::string& model_name() const;
  // The path behind --weights: 'auto' is the named model's official file, downloaded into the
  // cache on first use (a note on stderr unless quiet); throws WeightsUnavailable.
  std::string resolved_weights(const std::string& command, bool quiet) const;
  // (width, height): --size, else the cfg's, else kDefaultYolov4Size.
  std::pair<int, int> input_size(const NetworkSpec& spec) const;
  std::optional<DarknetCfg> load_cfg() const;
  Yolov4Weights load_weights(const DarknetCfg* cfg) const;
  int thread_count() const;
  ThreadPinning pinning() const;
};

}  // namespace yolo4::cli
