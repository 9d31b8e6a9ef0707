// Models by name: each carries its built-in cfg and where its official weights come from (URL,
// size, SHA-256), so `--model NAME --weights auto` downloads, caches and checks them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "yolo4/io/download.h"

namespace yolo4 {

struct NamedModel {
  std::string_view name;      // "yolov4", "yolov4-tiny", "yolo-fastest-1.1-xl"
  std::string_view cfg_file;  // a built-in cfg (embedded_cfgs)
  DownloadSpec weights;
  std::string_view about;  // one line for --help
};

const std::vector<NamedModel>& named_models();

// The model called `name`; fails listing the names there are.
const NamedModel& named_model(std::string_view name);

}  // namespace yolo4
