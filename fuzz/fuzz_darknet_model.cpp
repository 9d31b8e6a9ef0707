// A darknet .cfg and .weights together, as `yolo4 detect --cfg --weights` loads them: the cfg
// parsed into a NetworkSpec, the weights read for its convs (BatchNorm folded), the Graph built
// with the chosen precision, then one forward pass through a Detector's session.
// Input: [u8 preset][cfg text] NUL [weights bytes].
#include <algorithm>

#include "fuzz_util.h"
#include "yolo4/model/graph.h"
#include "yolo4/model/network_spec.h"
#include "yolo4/pipeline/detector.h"

namespace {

using namespace yolo4;

// Fuzz-only bounds, far below the library's (kMaxNetworkSide, kMaxFilters), so that a fuzzed
// cfg builds and runs in milliseconds: every layer's output at most kMaxLayerValues values, all
// convs together at most kMaxMultiplyAdds. Larger networks are valid and skipped here.
constexpr int64_t kMaxLayerValues = int64_t{1} << 16;
constexpr int64_t kMaxMultiplyAdds = int64_t{1} << 22;

bool small_enough(const NetworkSpec& spec) {
  int64_t multiply_adds = 0;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    if (l.output.elements() > kMaxLayerValues) return false;
    if (l.kind != LayerKind::kConvolutional) continue;
    const int in_channels = i == 0 ? spec.channels : spec.layers[size_t(l.inputs[0])].output.c;
    multiply_adds +=
        l.output.elements() * (in_channels / l.conv.groups) * l.conv.size * l.conv.size;
    if (multiply_adds > kMaxMultiplyAdds) return false;
  }
  return true;
}

constexpr const char* kPresets[] = {"fp32", "bf16", "report", "fast"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::InputReader input({data, size});
  const char* preset = kPresets[input.u8() % std::size(kPresets)];
  const auto [cfg_bytes, weights_bytes] = fuzz::split_at_nul(input.rest());
  const std::string cfg_path = fuzz::write_scratch("darknet_model_cfg", cfg_bytes);
  const std::string weights_path = fuzz::write_scratch("darknet_model_weights", weights_bytes);
  fuzz::expect_ok_or_error([&] {
    if (!small_enough(parse_network(parse_darknet_cfg(cfg_path)))) return;
    ModelSource source;
    source.cfg = cfg_path;
    source.weights = weights_path;
    source.options = ModelOptions::preset(preset);
    const auto model = load_detection_model(source);
    DetectorOptions options;
    options.threads = 1;
    options.pinning = ThreadPinning::kFloating;
    Detector detector(model, options);
    const Shape shape{1, model->spec().height, model->spec().width, 3};
    const std::vector<float> image(size_t(shape.elements()), 0.5f);
    const std::vector<Detector::Head> heads = detector.heads(image, shape);
    if (heads.size() != model->spec().yolo_layers.size()) __builtin_trap();
  });
  return 0;
}
