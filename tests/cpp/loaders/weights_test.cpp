#include "yolo4/model/weights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <sstream>

#include "loaders/loader_test_util.h"

namespace yolo4 {
namespace {

using test::expect_error;
using test::TempDir;

TEST(FoldBatchNorm, MatchesHandComputation) {
  // Two output channels of three weights each; expected values worked out with
  // scale = gamma / sqrt(var + 1e-5), w' = w * scale, b' = beta - mean * scale.
  std::vector<float> weight = {1, -2, 0.25f, 4, 0, -1};
  std::vector<float> bias(2);
  const float gamma[] = {2, 0.5f}, beta[] = {1, -1}, mean[] = {0.5f, 2}, var[] = {3, 0.25f};
  fold_bn_to_conv_weights_bias(weight, bias, {gamma, beta, mean, var});
  const double expected_weight[] = {
      1.1546986138831654, -2.309397227766331, 0.28867465347079135, 3.9999200023999197, 0.0,
      -0.9999800005999799};
  for (size_t i = 0; i < weight.size(); ++i) EXPECT_FLOAT_EQ(weight[i], expected_weight[i]) << i;
  EXPECT_FLOAT_EQ(bias[0], 0.4226506930584173);
  EXPECT_FLOAT_EQ(bias[1], -2.99996000119996);

  std::vector<float> three_biases(3);
  expect_error(
      [&] {
        fold_bn_to_conv_weights_bias(weight, three_biases, {gamma, beta, mean, var});
      },
      {"do not match"});
}

TEST(RandomWeights, DeterministicHeScaled) {
  const Yolov4Weights a = random_yolov4_weights(7);
  const Yolov4Weights b = random_yolov4_weights(7);
  ASSERT_EQ(a.convs().size(), static_cast<size_t>(kYolov4ConvCount));
  for (size_t i = 0; i < a.convs().size(); ++i) {
    ASSERT_EQ(a.convs()[i].weight, b.convs()[i].weight) << i;
    ASSERT_EQ(a.convs()[i].bias, b.convs()[i].bias) << i;
  }
  const ConvWeights& conv = a.conv("neek.conv4");  // fan_in 2048
  EXPECT_EQ(conv.spec, &yolov4_conv("neek.conv4"));
  const float limit = std::sqrt(6.0f / 2048);
  double sum_sq = 0;
  for (const float w : conv.weight) {
    ASSERT_LE(std::abs(w), limit);
    sum_sq += double{w} * w;
  }
  EXPECT_NEAR(sum_sq / static_cast<double>(conv.weight.size()), 2.0 / 2048, 0.05 * 2.0 / 2048);
  for (const float bias : conv.bias) ASSERT_LE(std::abs(bias), 0.05f);
  EXPECT_NE(random_yolov4_weights(8).conv("down1.conv1").weight, a.conv("down1.conv1").weight);
  expect_error([&] { a.conv("neek.conv99"); }, {"neek.conv99"});
}

// A full state_dict with exactly representable values (so python and C++ agree bitwise):
// conv i has constant weights (i + 1) / 1024; BatchNorm gamma = 1 + o/64, beta = o/32 - 1,
// mean = o/128, var = 0.5 + o/256; head biases o/16.
float conv_weight_value(size_t index) {
  return static_cast<float>(index + 1) / 1024;
}

const WeightMap& reference_state_dict() {
  static const WeightMap state = [] {
    WeightMap map;
    const auto convs = yolov4_convs();
    for (size_t i = 0; i < convs.size(); ++i) {
      const ConvSpec& spec = convs[i];
      const std::string key(spec.key);
      const int64_t out = spec.out_channels;
      map[key + ".conv.0.weight"] = {
          {out, spec.in_channels, spec.kernel, spec.kernel},
          std::vector<float>(static_cast<size_t>(weight_count(spec)), conv_weight_value(i))};
      const auto per_channel = [&](float scale, float offset) {
        HostArray array{{out}, std::vector<float>(static_cast<size_t>(out))};
        for (int64_t o = 0; o < out; ++o) array.data[o] = static_cast<float>(o) * scale + offset;
        return array;
      };
      if (spec.batch_norm) {
        map[key + ".conv.1.weight"] = per_channel(1.0f / 64, 1);
        map[key + ".conv.1.bias"] = per_channel(1.0f / 32, -1);
        map[key + ".conv.1.running_mean"] = per_channel(1.0f / 128, 0);
        map[key + ".conv.1.running_var"] = per_channel(1.0f / 256, 0.5f);
        map[key + ".conv.1.num_batches_tracked"] = {{}, {100}};
      } else {
        map[key + ".conv.0.bias"] = per_channel(1.0f / 16, 0);
      }
    }
    return map;
  }();
  return state;
}

void expect_same(const Yolov4Weights& a, const Yolov4Weights& b) {
  for (size_t i = 0; i < a.convs().size(); ++i) {
    ASSERT_EQ(a.convs()[i].spec, b.convs()[i].spec);
    ASSERT_EQ(a.convs()[i].weight, b.convs()[i].weight) << a.convs()[i].spec->key;
    ASSERT_EQ(a.convs()[i].bias, b.convs()[i].bias) << a.convs()[i].spec->key;
  }
}

TEST(Yolov4Weights, FoldsStateDict) {
  const Yolov4Weights weights = yolov4_weights_from_state_dict(reference_state_dict(), "sd");
  // neek.conv3 is conv #74: 1024 -> 512, 1x1.
  const ConvWeights& conv = weights.conv("neek.conv3");
  ASSERT_EQ(conv.weight.size(), 512u * 1024);
  const int o = 100;
  const double scale = (1 + o / 64.0) / std::sqrt(0.5 + o / 256.0 + 1e-5);
  EXPECT_FLOAT_EQ(conv.weight[o * 1024 + 7], 75 / 1024.0 * scale);
  EXPECT_FLOAT_EQ(conv.bias[o], (o / 32.0 - 1) - o / 128.0 * scale);
  // Head outputs keep their weights and biases as they are.
  const ConvWeights& head = weights.conv("head.conv18");
  EXPECT_EQ(head.weight, std::vector<float>(255 * 1024, 110 / 1024.0f));
  EXPECT_EQ(head.bias[3], 3 / 16.0f);
}

TEST(Yolov4Weights, StateDictErrorsNameSourceAndKey) {
  // One copy of the 64M-float state_dict, each case replacing (or with nullopt, erasing) one
  // tensor and putting it back afterwards.
  WeightMap state = reference_state_dict();
  const auto expect_state_error = [&](const std::string& key, std::optional<HostArray> tensor,
                                      std::initializer_list<std::string> parts) {
    const auto old = state.find(key);
    std::optional<HostArray> saved;
    if (old != state.end()) saved = std::move(old->second);
    state.erase(key);
    if (tensor) state[key] = std::move(*tensor);
    expect_error([&] { yolov4_weights_from_state_dict(state, "ckpt.pth"); }, parts);
    state.erase(key);
    if (saved) state[key] = std::move(*saved);
  };
  const auto& reference = reference_state_dict();

  expect_state_error("down2.conv3.conv.1.running_var", std::nullopt,
                     {"ckpt.pth", "missing key 'down2.conv3.conv.1.running_var'", "[64]"});
  HostArray misshapen = reference.at("down1.conv1.conv.0.weight");
  misshapen.shape = {32, 3, 9};
  expect_state_error("down1.conv1.conv.0.weight", misshapen,
                     {"ckpt.pth",
                      "'down1.conv1.conv.0.weight' has shape [32, 3, 9], expected "
                      "[32, 3, 3, 3]"});
  HostArray infinite = reference.at("head.conv2.conv.0.bias");
  infinite.data[4] = std::numeric_limits<float>::infinity();
  expect_state_error("head.conv2.conv.0.bias", infinite,
                     {"ckpt.pth",
                      "'head.conv2.conv.0.bias' has a non-finite value (inf) at "
                      "index 4"});
  HostArray negative = reference.at("down1.conv1.conv.1.running_var");
  negative.data[1] = -1;
  expect_state_error("down1.conv1.conv.1.running_var", negative,
                     {"ckpt.pth", "running_var", "negative variance"});
  expect_state_error("head.conv19.conv.0.weight", HostArray{{1}, {0}},
                     {"ckpt.pth", "unexpected key 'head.conv19.conv.0.weight'"});
  expect_state_error("neck.conv1.conv.0.weight", reference.at("neek.conv1.conv.0.weight"),
                     {"ckpt.pth",
                      "both 'neck.conv1.conv.0.weight' and "
                      "'neek.conv1.conv.0.weight' are present"});
}

// The reference state_dict as a darknet .weights file, in cfg order.
void write_darknet(const std::string& path, const WeightMap& state) {
  std::ofstream out(path, std::ios::binary);
  const int32_t version[] = {0, 2, 5};
  out.write(reinterpret_cast<const char*>(version), sizeof version);
  const uint64_t seen = 12345;
  out.write(reinterpret_cast<const char*>(&seen), sizeof seen);
  const auto put = [&](const std::string& key) {
    const auto& data = state.at(key).data;
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size() * sizeof(float)));
  };
  for (const ConvSpec& spec : yolov4_convs()) {
    const std::string key(spec.key);
    if (spec.batch_norm) {
      for (const char* part : {"bias", "weight", "running_mean", "running_var"}) {
        put(key + ".conv.1." + part);
      }
    } else {
      put(key + ".conv.0.bias");
    }
    put(key + ".conv.0.weight");
  }
}

TEST(Yolov4Weights, LoadsDarknetWeightsLikeTheStateDict) {
  TempDir dir;
  const std::string path = dir.path("yolov4.weights");
  write_darknet(path, reference_state_dict());
  const Yolov4Weights expected = yolov4_weights_from_state_dict(reference_state_dict(), "sd");
  expect_same(load_yolov4_weights(path), expected);

  const uint64_t size = std::filesystem::file_size(path);
  EXPECT_EQ(size, 257717640u);
  std::filesystem::resize_file(path, size - 4);
  expect_error([&] { load_yolov4_weights(path); },
               {"yolov4.weights", "truncated", "expected 257717640 bytes", "found 257717636"});
  std::filesystem::resize_file(path, size + 8);
  expect_error([&] { load_yolov4_weights(path); },
               {"yolov4.weights", "too large", "expected 257717640 bytes", "found 257717648"});
  std::filesystem::resize_file(path, size);

  {  // NaN as the 4th BatchNorm scale of the first conv: after 32 biases.
    std::fstream file(path, std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(20 + 4 * (32 + 3));
    const float nan = std::numeric_limits<float>::quiet_NaN();
    file.write(reinterpret_cast<const char*>(&nan), sizeof nan);
  }
  expect_error(
      [&] { load_yolov4_weights(path); },
      {"yolov4.weights", "conv #0 (down1.conv1) scales", "non-finite", "index 3", "byte 160"});

  // Also a NaN in the largest conv's weights, which a load on several threads reads first: the
  // error still names the first bad conv in file order.
  std::vector<DarknetConvLayout> layout;
  for (const ConvSpec& c : yolov4_convs()) {
    layout.push_back({std::string(c.key), c.out_channels,
                      int64_t(c.out_channels) * c.in_channels * c.kernel * c.kernel, c.batch_norm});
  }
  uint64_t offset = 20, largest_offset = 0;
  int64_t largest = 0;
  for (const DarknetConvLayout& c : layout) {
    const uint64_t fields = uint64_t(c.out_channels) * (c.batch_norm ? 4 : 1);
    if (c.weight_count > largest) {
      largest = c.weight_count;
      largest_offset = offset + fields * 4;
    }
    offset += (fields + uint64_t(c.weight_count)) * 4;
  }
  {
    std::fstream file(path, std::ios::binary | std::ios::in | std::ios::out);
    file.seekp(std::streamoff(largest_offset));
    const float nan = std::numeric_limits<float>::quiet_NaN();
    file.write(reinterpret_cast<const char*>(&nan), sizeof nan);
  }
  for (int threads : {1, 3}) {
    expect_error([&] { read_darknet_convs(path, layout, threads); },
                 {"yolov4.weights", "conv #0 (down1.conv1) scales", "index 3"});
  }
}

// Every tensor of reference_state_dict(), built by torch (weights as stride-0 expanded views,
// which keeps the files small), plus broken variants.
std::string torch_generator() {
  std::ostringstream script;
  script << "import collections, torch\nSPECS = [\n";
  for (const ConvSpec& spec : yolov4_convs()) {
    script << "    ('" << spec.key << "', " << spec.in_channels << ", " << spec.out_channels << ", "
           << spec.kernel << ", " << spec.batch_norm << "),\n";
  }
  script << R"(]

def state_dict(neck=False):
    sd = collections.OrderedDict()
    for i, (key, cin, cout, k, bn) in enumerate(SPECS):
        if neck and key.startswith('neek.'):
            key = 'neck.' + key[5:]
        sd[key + '.conv.0.weight'] = torch.full((1,), (i + 1) / 1024).expand(cout, cin, k, k)
        o = torch.arange(cout, dtype=torch.float32)
        if bn:
            sd[key + '.conv.1.weight'] = 1 + o / 64
            sd[key + '.conv.1.bias'] = o / 32 - 1
            sd[key + '.conv.1.running_mean'] = o / 128
            sd[key + '.conv.1.running_var'] = 0.5 + o / 256
            sd[key + '.conv.1.num_batches_tracked'] = torch.tensor(100)
        else:
            sd[key + '.conv.0.bias'] = o / 16
    return sd

torch.save(state_dict(), 'good.pth')
torch.save(state_dict(neck=True), 'neck.pth')
torch.save({'epoch': 3, 'state_dict': state_dict()}, 'wrapped.pth')
sd = state_dict(); del sd['head.conv10.conv.0.bias']; torch.save(sd, 'missing.pth')
sd = state_dict(); sd['down1.conv1.conv.0.weight'] = torch.zeros(32, 3, 3, 1)
torch.save(sd, 'misshapen.pth')
sd = state_dict(); v = sd['neek.conv3.conv.1.running_mean'].clone(); v[5] = float('nan')
sd['neek.conv3.conv.1.running_mean'] = v; torch.save(sd, 'nan.pth')
sd = state_dict(); sd['head.conv19.conv.0.weight'] = torch.zeros(1); torch.save(sd, 'unexpected.pth')
torch.save(state_dict(), 'legacy.pth', _use_new_zipfile_serialization=False)
)";
  return script.str();
}

class Yolov4PthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixture_ = test::cached_python_fixture("yolov4_pth", torch_generator());
  }
  void SetUp() override { YOLO4_REQUIRE_FIXTURE(fixture_); }
  static std::string path(const std::string& name) { return fixture_.dir + "/" + name; }

  static test::PythonFixture fixture_;
};

test::PythonFixture Yolov4PthTest::fixture_;

TEST_F(Yolov4PthTest, LoadsPthLikeTheStateDict) {
  const Yolov4Weights expected = yolov4_weights_from_state_dict(reference_state_dict(), "sd");
  for (const char* name : {"good.pth", "neck.pth", "wrapped.pth"}) {
    SCOPED_TRACE(name);
    expect_same(load_yolov4_weights(path(name)), expected);
  }
}

TEST_F(Yolov4PthTest, BrokenCheckpointsNameFileAndKey) {
  expect_error([&] { load_yolov4_weights(path("missing.pth")); },
               {"missing.pth", "missing key 'head.conv10.conv.0.bias'"});
  expect_error([&] { load_yolov4_weights(path("misshapen.pth")); },
               {"misshapen.pth",
                "'down1.conv1.conv.0.weight' has shape [32, 3, 3, 1], expected "
                "[32, 3, 3, 3]"});
  expect_error([&] { load_yolov4_weights(path("nan.pth")); },
               {"nan.pth",
                "'neek.conv3.conv.1.running_mean' has a non-finite value (nan) at "
                "index 5"});
  expect_error([&] { load_yolov4_weights(path("unexpected.pth")); },
               {"unexpected.pth", "unexpected key 'head.conv19.conv.0.weight'"});
  expect_error([&] { load_yolov4_weights(path("legacy.pth")); },
               {"legacy.pth", "legacy (pre-1.6) torch.save format"});
}

TEST_F(Yolov4PthTest, ChecksTheCfgFirst) {
  const std::string cfg_dir = test::shared_data_dir();
  if (!std::filesystem::exists(cfg_dir + "/yolov4.cfg")) GTEST_SKIP() << cfg_dir << " absent";
  const DarknetCfg cfg = parse_darknet_cfg(cfg_dir + "/yolov4.cfg");
  load_yolov4_weights(path("good.pth"), &cfg);
  const DarknetCfg tiny = parse_darknet_cfg(cfg_dir + "/yolov4-tiny.cfg");
  expect_error([&] { load_yolov4_weights(path("good.pth"), &tiny); },
               {"yolov4-tiny.cfg:", "expected stride=1, found 2"});
}

TEST(Yolov4Weights, UnknownFormatsFail) {
  TempDir dir;
  const std::string path = dir.path("x.bin");
  test::write_bytes(path, {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0});
  expect_error([&] { load_yolov4_weights(path); }, {"x.bin", "unknown weights format"});
  test::write_bytes(path, {1, 2});
  expect_error([&] { load_yolov4_weights(path); }, {"x.bin", "unknown weights format"});
  expect_error([&] { load_yolov4_weights(dir.path("none.pth")); }, {"none.pth", "cannot open"});
}

// The random checkpoint of tests/python/make_checkpoint.py, made by the testdata fixture.
std::string testdata_dir() {
  const char* dir = std::getenv("YOLO4_TESTDATA");
  return dir ? dir : std::string(YOLO4_BINARY_DIR) + "/testdata";
}

TEST(Yolov4Weights, RandomCheckpointPthAndWeightsAgree) {
  const std::string pth = testdata_dir() + "/yolov4_random.pth";
  const std::string weights = testdata_dir() + "/yolov4_random.weights";
  if (!std::filesystem::exists(pth) || !std::filesystem::exists(weights)) {
    GTEST_SKIP() << testdata_dir() << " (YOLO4_TESTDATA) has no yolov4_random.pth and .weights";
  }
  expect_same(load_yolov4_weights(pth), load_yolov4_weights(weights));
}

// Its float16 and bfloat16 copies fold to nearly the float32 weights (relative to each conv's
// largest weight: half has 11 significant bits, bfloat16 8).
TEST(Yolov4Weights, RandomCheckpointInHalfPrecisionIsClose) {
  const std::string f32 = testdata_dir() + "/yolov4_random.pth";
  if (!std::filesystem::exists(f32)) GTEST_SKIP() << testdata_dir() << " has no checkpoint";
  const Yolov4Weights reference = load_yolov4_weights(f32);
  for (const auto& [name, tolerance] :
       {std::pair{"yolov4_random_f16.pth", 4e-3}, std::pair{"yolov4_random_bf16.pth", 3e-2}}) {
    const std::string path = testdata_dir() + "/" + name;
    if (!std::filesystem::exists(path)) continue;
    SCOPED_TRACE(name);
    const Yolov4Weights reduced = load_yolov4_weights(path);
    for (size_t i = 0; i < reference.convs().size(); ++i) {
      const auto& a = reference.convs()[i];
      const auto& b = reduced.convs()[i];
      float scale = 0, worst = 0;
      for (size_t j = 0; j < a.weight.size(); ++j) {
        scale = std::max(scale, std::abs(a.weight[j]));
        worst = std::max(worst, std::abs(a.weight[j] - b.weight[j]));
      }
      ASSERT_LE(worst, tolerance * scale) << a.spec->key;
    }
  }
}

}  // namespace
}  // namespace yolo4
