// The darknet cfgs compiled into the library (the project's cfg/ folder, e.g. yolov4.cfg), so
// that named models need no file beside the binary.
#pragma once

#include <string_view>
#include <vector>

namespace yolo4 {

struct EmbeddedCfg {
  std::string_view file_name;  // "yolov4.cfg"
  std::string_view text;
};

const std::vector<EmbeddedCfg>& embedded_cfgs();

}  // namespace yolo4
