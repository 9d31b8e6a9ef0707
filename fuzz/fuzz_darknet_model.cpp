// A darknet .cfg and .weights together, as `yolo4 detect --cfg --weights` loads them: the cfg
// parsed into a NetworkSpec, the weights read for its convs (BatchNorm folded), the Graph built
// with the chosen precision, then one forward pass through a Detector's session.
// Input: [u8 mode][cfg text] NUL [weights bytes]. Bits 0-1 of mode pick the preset. A mutated cfg
// rarely keeps a weights file of exactly its size, so with bit 2 set the weights file is made to
// fit the cfg instead (header, then finite values taken from the weights bytes): mutated networks
// then get built and run, not only refused at the size check.
#include <algorithm>
#include <cstring>

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
constexpr int64_t kMaxFittedFloats = int64_t{1} << 18;  // a 1 MB generated weights file

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

// The floats a .weights file holds for this network: per conv, biases, BatchNorm's scales, means
// and variances when it has one, then the weights.
int64_t weight_floats(const NetworkSpec& spec) {
  int64_t floats = 0;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    if (l.kind != LayerKind::kConvolutional) continue;
    const int in_channels = i == 0 ? spec.channels : spec.layers[size_t(l.inputs[0])].output.c;
    floats += int64_t(l.conv.filters) * (l.conv.batch_normalize ? 4 : 1) +
              int64_t(l.conv.filters) * (in_channels / l.conv.groups) * l.conv.size * l.conv.size;
  }
  return floats;
}

// A version 0.2 .weights file of `floats` values in [0, 2) (variances must not be negative)
// cycled from `bytes`.
std::vector<uint8_t> fitted_weights(int64_t floats, std::span<const uint8_t> bytes) {
  const int32_t header[3] = {0, 2, 0};
  const uint64_t seen = 0;
  std::vector<uint8_t> file(sizeof header + sizeof seen + size_t(floats) * sizeof(float));
  std::memcpy(file.data(), header, sizeof header);
  std::memcpy(file.data() + sizeof header, &seen, sizeof seen);
  for (int64_t i = 0; i < floats; ++i) {
    const float value = bytes.empty() ? 0.5f : float(bytes[size_t(i) % bytes.size()] % 128) / 64;
    std::memcpy(file.data() + sizeof header + sizeof seen + size_t(i) * sizeof(float), &value,
                sizeof value);
  }
  return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::InputReader input({data, size});
  const uint32_t mode = input.u8();
  const char* preset = kPresets[mode % std::size(kPresets)];
  const bool fit_weights = (mode & 4) != 0;
  const auto parts = fuzz::split_at_nul(input.rest());
  const std::span<const uint8_t> weights_bytes = parts.second;
  const std::string cfg_path = fuzz::write_scratch("darknet_model_cfg", parts.first);
  fuzz::expect_ok_or_error([&] {
    const NetworkSpec spec = parse_network(parse_darknet_cfg(cfg_path));
    if (!small_enough(spec) || (fit_weights && weight_floats(spec) > kMaxFittedFloats)) return;
    const std::vector<uint8_t> fitted =
        fit_weights ? fitted_weights(weight_floats(spec), weights_bytes) : std::vector<uint8_t>{};
    const std::string weights_path =
        fuzz::write_scratch("darknet_model_weights", fit_weights ? fitted : weights_bytes);
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
