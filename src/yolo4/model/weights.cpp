#include "yolo4/model/weights.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>

#include "yolo4/core/error.h"
#include "yolo4/core/jobs.h"
#include "yolo4/core/tensor.h"
#include "yolo4/loaders/binary_io.h"
#include "yolo4/loaders/darknet_weights.h"
#include "yolo4/loaders/pth.h"

namespace yolo4 {
namespace {

std::string shape_string(std::span<const int64_t> shape) {
  return detail::concat("[", join_dims(shape, ", "), "]");
}

// Index of the first NaN or infinity, or -1.
int64_t first_non_finite(std::span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

void check_running_var(std::span<const float> var, const std::string& where) {
  for (size_t i = 0; i < var.size(); ++i) {
    YOLO4_CHECK(var[i] >= 0.0f, where, " has negative variance ", var[i], " at index ", i);
  }
}

ConvWeights fold(const ConvSpec& spec, std::vector<float> weight, const BatchNormParams& bn) {
  ConvWeights conv{&spec, std::move(weight), std::vector<float>(bn.beta.size())};
  fold_bn_to_conv_weights_bias(conv.weight, conv.bias, bn);
  return conv;
}

// --- PyTorch state_dict ---------------------------------------------------------------------

class StateDictLoader {
 public:
  StateDictLoader(const WeightMap& state_dict, const std::string& source) : source_(source) {
    for (const auto& [key, array] : state_dict) {
      // models.py spells the neck "neek"; accept a corrected spelling too.
      const std::string canonical = key.starts_with("neck.") ? "neek." + key.substr(5) : key;
      const auto [it, added] = tensors_.emplace(canonical, Entry{key, &array});
      YOLO4_CHECK(added, source_, ": both '", it->second.key, "' and '", key,
                  "' are present (neek. and neck. name the same layers)");
    }
  }

  Yolov4Weights load() {
    std::vector<ConvWeights> convs;
    for (const ConvSpec& spec : yolov4_convs()) convs.push_back(conv(spec));
    check_all_used();
    return Yolov4Weights(std::move(convs));
  }

 private:
  struct Entry {
    std::string key;  // as in the file
    const HostArray* array;
    bool used = false;
  };

  ConvWeights conv(const ConvSpec& spec) {
    const std::string prefix(spec.key);
    const int64_t out = spec.out_channels;
    auto weight =
        take(prefix + ".conv.0.weight", {out, spec.in_channels, spec.kernel, spec.kernel});
    if (!spec.batch_norm) return {&spec, std::move(weight), take(prefix + ".conv.0.bias", {out})};
    const std::string bn = prefix + ".conv.1.";
    const auto gamma = take(bn + "weight", {out});
    const auto beta = take(bn + "bias", {out});
    const auto mean = take(bn + "running_mean", {out});
    const auto var = take(bn + "running_var", {out});
    check_running_var(var, source_ + ": '" + bn + "running_var'");
    return fold(spec, std::move(weight), {gamma, beta, mean, var});
  }

  std::vector<float> take(const std::string& key, const std::vector<int64_t>& shape) {
    const auto it = tensors_.find(key);
    YOLO4_CHECK(it != tensors_.end(), source_, ": missing key '", key, "' (expected shape ",
                shape_string(shape), ")");
    Entry& entry = it->second;
    entry.used = true;
    YOLO4_CHECK(entry.array->shape == shape, source_, ": key '", entry.key, "' has shape ",
                shape_string(entry.array->shape), ", expected ", shape_string(shape));
    const int64_t bad = first_non_finite(entry.array->data);
    YOLO4_CHECK(bad < 0, source_, ": key '", entry.key, "' has a non-finite value (",
                entry.array->data[static_cast<size_t>(std::max<int64_t>(bad, 0))], ") at index ",
                bad);
    return entry.array->data;
  }

  void check_all_used() const {
    for (const auto& [canonical, entry] : tensors_) {
      YOLO4_CHECK(entry.used || canonical.ends_with(".num_batches_tracked"), source_,
                  ": unexpected key '", entry.key, "' (not a YOLOv4 parameter of models.py)");
    }
  }

  const std::string& source_;
  std::map<std::string, Entry> tensors_;  // by canonical key
};

// --- darknet .weights -----------------------------------------------------------------------

// Darknet stores per conv: biases (BatchNorm beta when batch-normalized), then with BatchNorm
// scales (gamma), rolling mean and rolling variance, then the OIHW weights.
// Each conv's parameters are read, checked and folded as one job, the convs on several threads
// (reading a 258 MB file and folding it took a fifth of a one-image `yolo4 detect`).
class DarknetLoader {
 public:
  explicit DarknetLoader(const std::string& path) : reader_(path) {}

  std::vector<ConvParameters> load(std::span<const DarknetConvLayout> convs, int threads) {
    std::vector<uint64_t> offsets;  // of each conv's first float: the file has them back to back
    std::vector<size_t> costs;
    uint64_t at = reader_.header_bytes();
    for (const DarknetConvLayout& c : convs) {
      offsets.push_back(at);
      costs.push_back(size_t(c.weight_count));
      at += (uint64_t(c.weight_count) + uint64_t(c.out_channels) * (c.batch_norm ? 4 : 1)) *
            sizeof(float);
    }
    reader_.expect_float_count((at - reader_.header_bytes()) / sizeof(float));
    std::vector<ConvParameters> out(convs.size());
    run_jobs(costs, threads, [&](size_t i) { out[i] = conv(convs[i], i, offsets[i]); });
    return out;
  }

 private:
  // Reads the fields of conv `index` (file order: biases, then with batch norm its scales,
  // rolling mean and variance, then the weights) from byte `offset` on.
  ConvParameters conv(const DarknetConvLayout& layout, size_t index, uint64_t offset) const {
    const std::string name = "conv #" + std::to_string(index) + " (" + layout.name + ")";
    const auto out = static_cast<size_t>(layout.out_channels);
    const auto read = [&](size_t count, const char* what) {
      std::vector<float> values = reader_.read_at(offset, count);
      const int64_t bad = first_non_finite(values);
      YOLO4_CHECK(bad < 0, reader_.path(), ": ", name, " ", what, " has a non-finite value (",
                  values[static_cast<size_t>(std::max<int64_t>(bad, 0))], ") at index ", bad,
                  " (byte ", offset + static_cast<uint64_t>(bad) * sizeof(float), ")");
      offset += count * sizeof(float);
      return values;
    };
    ConvParameters conv;
    conv.bias = read(out, "biases");
    if (!layout.batch_norm) {
      conv.weight = read(static_cast<size_t>(layout.weight_count), "weights");
      return conv;
    }
    const auto gamma = read(out, "scales");
    const auto mean = read(out, "rolling_mean");
    const auto var = read(out, "rolling_variance");
    check_running_var(var, reader_.path() + ": " + name + " rolling_variance");
    conv.weight = read(static_cast<size_t>(layout.weight_count), "weights");
    const std::vector<float> beta = conv.bias;
    fold_bn_to_conv_weights_bias(conv.weight, conv.bias, {gamma, beta, mean, var});
    return conv;
  }

  DarknetWeightsReader reader_;
};

std::vector<DarknetConvLayout> yolov4_darknet_layout() {
  std::vector<DarknetConvLayout> layout;
  for (const ConvSpec& spec : yolov4_convs()) {
    layout.push_back(
        {std::string(spec.key), spec.out_channels, weight_count(spec), spec.batch_norm});
  }
  return layout;
}

Yolov4Weights yolov4_weights_from(std::vector<ConvParameters> params) {
  std::vector<ConvWeights> convs;
  for (size_t i = 0; i < params.size(); ++i) {
    convs.push_back({&yolov4_convs()[i], std::move(params[i].weight), std::move(params[i].bias)});
  }
  return Yolov4Weights(std::move(convs));
}

// --- format detection -----------------------------------------------------------------------

enum class Format { kPth, kDarknet };

Format detect_format(const std::string& path) {
  const uint64_t size = file_size(path);
  std::vector<uint8_t> head(std::min<uint64_t>(size, 8));
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  YOLO4_CHECK(in, path, ": cannot read file");
  if (head.size() >= 4 && load_le<uint32_t>(head.data()) == 0x04034b50) return Format::kPth;
  YOLO4_CHECK(!(head.size() >= 2 && head[0] == 0x80 && head[1] <= 5), path,
              ": legacy (pre-1.6) torch.save format is not supported; re-save it with a newer "
              "PyTorch (zip format)");
  // Darknet's header starts with small major/minor version numbers (0.2 for YOLOv4).
  const bool darknet = head.size() >= 8 && load_le<uint32_t>(head.data()) < 1000 &&
                       load_le<uint32_t>(head.data() + 4) < 1000;
  YOLO4_CHECK(darknet, path,
              ": unknown weights format: expected a PyTorch .pth (zip archive) or a darknet "
              ".weights file");
  return Format::kDarknet;
}

// --- random weights -------------------------------------------------------------------------

// SplitMix64: tiny, fast, and fully specified here, so a seed gives the same weights on every
// platform (std's distributions are implementation-defined).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  // Uniform in [-1, 1) from the top 24 bits.
  float symmetric_uniform() { return static_cast<float>(next() >> 40) * 0x1p-23f - 1.0f; }

 private:
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  uint64_t state_;
};

}  // namespace

Yolov4Weights::Yolov4Weights(std::vector<ConvWeights> convs) : convs_(std::move(convs)) {
  const auto specs = yolov4_convs();
  YOLO4_CHECK(convs_.size() == specs.size(), "Yolov4Weights: expected ", specs.size(),
              " convs, found ", convs_.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const ConvWeights& conv = convs_[i];
    YOLO4_CHECK(conv.spec == &specs[i], "Yolov4Weights: conv #", i, " is not ", specs[i].key);
    YOLO4_CHECK(static_cast<int64_t>(conv.weight.size()) == weight_count(specs[i]) &&
                    static_cast<int>(conv.bias.size()) == specs[i].out_channels,
                "Yolov4Weights: ", specs[i].key, " has ", conv.weight.size(), " weights and ",
                conv.bias.size(), " biases, expected ", weight_count(specs[i]), " and ",
                specs[i].out_channels);
  }
}

const ConvWeights& Yolov4Weights::conv(std::string_view key) const {
  return convs_[static_cast<size_t>(&yolov4_conv(key) - yolov4_convs().data())];
}

void fold_bn_to_conv_weights_bias(std::span<float> weight, std::span<float> bias,
                                  const BatchNormParams& bn, float eps) {
  const size_t out = bias.size();
  YOLO4_CHECK(bn.gamma.size() == out && bn.beta.size() == out && bn.mean.size() == out &&
                  bn.var.size() == out && out > 0 && weight.size() % out == 0,
              "fold_bn_to_conv_weights_bias: ", weight.size(), " weights, ", out,
              " biases and BatchNorm sizes ", bn.gamma.size(), "/", bn.beta.size(), "/",
              bn.mean.size(), "/", bn.var.size(), " do not match");
  const size_t per_channel = weight.size() / out;
  for (size_t o = 0; o < out; ++o) {
    // In double so the folded floats are correctly rounded whatever the magnitudes.
    const double scale = double{bn.gamma[o]} / std::sqrt(double{bn.var[o]} + double{eps});
    for (float& w : weight.subspan(o * per_channel, per_channel)) {
      w = static_cast<float>(w * scale);
    }
    bias[o] = static_cast<float>(bn.beta[o] - bn.mean[o] * scale);
  }
}

Yolov4Weights load_yolov4_weights(const std::string& path, const DarknetCfg* cfg) {
  if (cfg) check_cfg_matches(*cfg);
  if (detect_format(path) == Format::kPth) {
    return yolov4_weights_from_state_dict(load_pth(path), path);
  }
  return yolov4_weights_from(read_darknet_convs(path, yolov4_darknet_layout()));
}

std::vector<ConvParameters> read_darknet_convs(const std::string& path,
                                               std::span<const DarknetConvLayout> convs,
                                               int threads) {
  return DarknetLoader(path).load(convs, threads);
}

Yolov4Weights yolov4_weights_from_state_dict(const WeightMap& state_dict,
                                             const std::string& source) {
  return StateDictLoader(state_dict, source).load();
}

std::vector<ConvParameters> random_convs(std::span<const DarknetConvLayout> convs, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<ConvParameters> out;
  for (const DarknetConvLayout& c : convs) {
    // Uniform on [-a, a] has variance a^2 / 3; a = sqrt(6 / fan_in) gives He's 2 / fan_in.
    const int64_t fan_in = c.weight_count / c.out_channels;
    const float limit = std::sqrt(6.0f / static_cast<float>(fan_in));
    ConvParameters conv{std::vector<float>(static_cast<size_t>(c.weight_count)),
                        std::vector<float>(static_cast<size_t>(c.out_channels))};
    for (float& w : conv.weight) w = limit * rng.symmetric_uniform();
    for (float& b : conv.bias) b = 0.05f * rng.symmetric_uniform();
    out.push_back(std::move(conv));
  }
  return out;
}

Yolov4Weights random_yolov4_weights(uint64_t seed) {
  return yolov4_weights_from(random_convs(yolov4_darknet_layout(), seed));
}

}  // namespace yolo4
