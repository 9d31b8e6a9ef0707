// Darknet .cfg files: sections, key=value lines, and the typed look-ups the model uses.
#include "fuzz_util.h"
#include "yolo4/loaders/darknet_cfg.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolo4;
  const std::string path = fuzz::write_scratch("darknet_cfg", {data, size});
  fuzz::expect_ok_or_error([&] {
    const DarknetCfg cfg = parse_darknet_cfg(path);
    for (const CfgSection& section : cfg.sections) {
      for (const auto& entry : section.values) {
        const std::string& key = entry.first;
        fuzz::expect_ok_or_error([&] { cfg_int(section, key, 0); });
        fuzz::expect_ok_or_error([&] { cfg_float(section, key, 0); });
        fuzz::expect_ok_or_error([&] { cfg_floats(section, key); });
        cfg_string(section, key, "");
      }
    }
  });
  return 0;
}
