// YOLOv4 parameters ready for inference: every conv's OIHW weights and bias with BatchNorm
// folded in, loaded from a PyTorch .pth state_dict or a darknet .weights file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "yolo4/loaders/darknet_cfg.h"
#include "yolo4/loaders/host_array.h"
#include "yolo4/model/conv_table.h"

namespace yolo4 {

struct ConvWeights {
  const ConvSpec* spec = nullptr;  // points into yolov4_convs()
  std::vector<float> weight;       // OIHW
  std::vector<float> bias;         // out_channels
};

// All 110 convs. Immutable once built, so one instance can be shared by any number of threads
// (e.g. as std::shared_ptr<const Yolov4Weights>).
class Yolov4Weights {
 public:
  // `convs` holds one entry per yolov4_convs() spec, in that order, with matching sizes.
  explicit Yolov4Weights(std::vector<ConvWeights> convs);

  const ConvWeights& conv(std::string_view key) const;           // fails for unknown keys
  std::span<const ConvWeights> convs() const { return convs_; }  // cfg order

 private:
  std::vector<ConvWeights> convs_;
};

// PyTorch's BatchNorm2d default, used for both formats so .pth and .weights fold identically.
inline constexpr float kBatchNormEps = 1e-5f;

struct BatchNormParams {
  std::span<const float> gamma, beta, mean, var;  // out_channels each
};

// Folds an inference-mode BatchNorm into the bias-free conv before it:
//   w' = w * gamma / sqrt(var + eps),  b' = beta - mean * gamma / sqrt(var + eps).
// `weight` is OIHW (out_channels blocks); `bias` receives b'.
void fold_bn_to_conv_weights_bias(std::span<float> weight, std::span<float> bias,
                                  const BatchNormParams& bn, float eps = kBatchNormEps);

// Loads `path`, telling the format by its content: a zip archive is a torch.save .pth,
// anything else must be a darknet .weights file. If `cfg` is given it is first checked against
// the architecture (check_cfg_matches). Errors name the file and the offending key or conv.
Yolov4Weights load_yolov4_weights(const std::string& path, const DarknetCfg* cfg = nullptr);

// Builds the weights from a Tianxiaomo pytorch-YOLOv4 state_dict ("neek." or "neck." prefixes).
// Missing, unexpected (other than num_batches_tracked), misshapen or non-finite tensors fail
// naming `source` and the key.
Yolov4Weights yolov4_weights_from_state_dict(const WeightMap& state_dict,
                                             const std::string& source);

// One conv's parameters in OIHW (I = input channels / groups), BatchNorm folded in.
struct ConvParameters {
  std::vector<float> weight;
  std::vector<float> bias;
};

// What a darknet .weights file holds for one conv, in file order.
struct DarknetConvLayout {
  std::string name;  // for messages
  int out_channels = 0;
  int64_t weight_count = 0;  // out_channels x in_channels / groups x size x size
  bool batch_norm = false;
};

// Reads every conv of a darknet .weights file, folding BatchNorm, the convs on `threads` threads
// (0: one per usable CPU). The file must hold exactly these convs; sizes, non-finite values and
// negative variances fail naming the conv (the first in file order).
std::vector<ConvParameters> read_darknet_convs(const std::string& path,
                                               std::span<const DarknetConvLayout> convs,
                                               int threads = 0);

// Deterministic He-scaled random parameters for these convs (see random_yolov4_weights).
std::vector<ConvParameters> random_convs(std::span<const DarknetConvLayout> convs, uint64_t seed);

// Deterministic stand-in weights for benchmarks without a weights file: He-scaled uniform
// weights (variance 2 / fan_in) and small biases, reproducible across platforms for a seed.
Yolov4Weights random_yolov4_weights(uint64_t seed);

}  // namespace yolo4
