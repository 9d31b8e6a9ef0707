// The cfg-driven graph: cfg parsing and shapes, clear errors, and the graph against the YOLOv4
// modules (same weights, same options: identical heads).
#include "yolo4/model/graph.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <set>

#include "model_test_util.h"
#include "test_env.h"
#include "yolo4/core/cpu_features.h"
#include "yolo4/core/error.h"
#include "yolo4/model/session.h"
#include "yolo4/model/yolov4.h"
#include "yolo4/ops/layout.h"
#include "yolo4/pipeline/detector.h"

namespace yolo4 {
namespace {

// A cfg file in the test's temporary directory.
class CfgFile {
 public:
  explicit CfgFile(const std::string& text)
      : path_(std::filesystem::temp_directory_path() /
              ("yolo4_graph_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++) +
               ".cfg")) {
    std::ofstream(path_) << text;
  }
  ~CfgFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

// Expects parse_network to fail with a message containing every fragment.
void expect_cfg_error(const std::string& text, std::vector<std::string> fragments) {
  const CfgFile file(text);
  fragments.push_back(file.path());
  try {
    parse_network(parse_darknet_cfg(file.path()));
    ADD_FAILURE() << "accepted:\n" << text;
  } catch (const Error& e) {
    for (const std::string& f : fragments) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what() << "\n  lacks: " << f;
    }
  }
}

constexpr const char* kNet = "[net]\nwidth=64\nheight=64\nchannels=3\n";
constexpr const char* kHead =
    "[convolutional]\nfilters=21\nsize=1\nactivation=linear\n"
    "[yolo]\nmask=0,1,2\nanchors=10,13, 16,30, 33,23\nclasses=2\nnum=3\n";

TEST(NetworkSpec, Yolov4CfgShapes) {
  const NetworkSpec spec = parse_network(builtin_cfg("yolov4.cfg"));
  EXPECT_EQ(spec.width, 608);
  EXPECT_EQ(spec.num_classes(), 80);
  int convs = 0;
  for (const LayerSpec& l : spec.layers) convs += l.kind == LayerKind::kConvolutional;
  EXPECT_EQ(convs, kYolov4ConvCount);
  ASSERT_EQ(spec.yolo_layers.size(), 3u);
  const int grids[] = {76, 38, 19};
  for (int i = 0; i < 3; ++i) {
    const LayerSpec& yolo = spec.layers[size_t(spec.yolo_layers[size_t(i)])];
    EXPECT_EQ(yolo.output, (Shape{1, grids[i], grids[i], 255})) << i;
    EXPECT_EQ(yolo.yolo.anchors.size(), 6u);
  }
  EXPECT_FLOAT_EQ(spec.layers[size_t(spec.yolo_layers[0])].yolo.scale_xy, 1.2f);
  const NetworkSpec small = spec.resized(320, 320);
  EXPECT_EQ(small.layers[size_t(small.yolo_layers[2])].output, (Shape{1, 10, 10, 255}));
}

TEST(NetworkSpec, Yolov4TinyRouteGroupsAndPools) {
  const NetworkSpec spec =
      parse_network(parse_darknet_cfg(test_env::shared_data_dir() + "/yolov4-tiny.cfg"));
  ASSERT_EQ(spec.yolo_layers.size(), 2u);
  EXPECT_EQ(spec.layers[size_t(spec.yolo_layers[0])].output, (Shape{1, 13, 13, 255}));
  EXPECT_EQ(spec.layers[size_t(spec.yolo_layers[1])].output, (Shape{1, 26, 26, 255}));
  // Layer 3 is the first [route] layers=-1 groups=2 group_id=1: half of layer 2's 64 channels.
  EXPECT_EQ(spec.layers[3].kind, LayerKind::kRoute);
  EXPECT_EQ(spec.layers[3].output, (Shape{1, 104, 104, 32}));
}

TEST(NetworkSpec, YoloFastestDepthwiseDropoutAndBigPools) {
  const NetworkSpec spec = parse_network(
      parse_darknet_cfg(test_env::shared_data_dir() + "/models/yolo-fastest-1.1-xl.cfg"));
  ASSERT_EQ(spec.yolo_layers.size(), 2u);
  EXPECT_EQ(spec.layers[size_t(spec.yolo_layers[0])].output, (Shape{1, 10, 10, 255}));
  EXPECT_EQ(spec.layers[size_t(spec.yolo_layers[1])].output, (Shape{1, 20, 20, 255}));
  bool depthwise = false, pool9 = false;
  for (const LayerSpec& l : spec.layers) {
    depthwise |=
        l.kind == LayerKind::kConvolutional && l.conv.groups == l.conv.filters && l.conv.groups > 1;
    pool9 |= l.kind == LayerKind::kMaxPool && l.pool_size == 9 && l.pool_stride == 1;
  }
  EXPECT_TRUE(depthwise);
  EXPECT_TRUE(pool9);
}

TEST(NetworkSpec, ClearErrorsNameTheFileAndLine) {
  const std::string net = kNet;
  expect_cfg_error(net + "[crnn]\nbatch_normalize=1\n", {":5:", "section [crnn]", "[route]"});
  expect_cfg_error(net + "[convolutional]\nfilters=8\nsize=3\ndilation=2\n" + kHead,
                   {":5:", "'dilation'", "supported:", "filters"});
  expect_cfg_error(net + "[convolutional]\nfilters=8\nactivation=gelu\n" + kHead,
                   {"gelu", "leaky"});
  expect_cfg_error(net + "[convolutional]\nfilters=8\n[route]\nlayers=3\n" + kHead,
                   {":7:", "not an earlier layer"});
  expect_cfg_error(net +
                       "[convolutional]\nfilters=8\nsize=1\n[convolutional]\nfilters=20\n"
                       "[yolo]\nmask=0,1,2\nanchors=10,13, 16,30, 33,23\nclasses=2\n",
                   {"20 channels", "21 expected"});
  expect_cfg_error(net +
                       "[convolutional]\nfilters=8\nsize=3\nstride=2\n[convolutional]\n"
                       "filters=16\n[shortcut]\nfrom=-2\n" +
                       kHead,
                   {"shortcuts need equal shapes"});
  expect_cfg_error(net + "[convolutional]\nfilters=8\ngroups=3\n" + kHead, {"groups 3"});
  expect_cfg_error(net + "[convolutional]\nfilters=8\n", {"no [yolo] layer"});
  expect_cfg_error("[convolutional]\nfilters=8\n", {"starts with a [net]"});
}

// Found by fuzz_darknet_model (tests/data/fuzz/darknet_model/mask_beyond_int.bin): indices far
// beyond int's range were converted to int (undefined: INT_MIN on x86, which passed the check)
// and a mask entry such as 3e9 then indexed the anchors out of bounds.
TEST(NetworkSpec, IndicesBeyondIntAreRefused) {
  const std::string net = kNet;
  expect_cfg_error(net +
                       "[convolutional]\nfilters=21\nsize=1\n[yolo]\n"
                       "mask=0,15555555555555555555555555,2\nanchors=4,6, 10,12, 20,24\n"
                       "classes=2\nnum=3\n",
                   {"mask entry 1.55556e+25", "not an anchor index below 3"});
  expect_cfg_error(net +
                       "[convolutional]\nfilters=21\nsize=1\n[yolo]\nmask=0,3000000000,2\n"
                       "anchors=4,6, 10,12, 20,24\nclasses=2\nnum=3\n",
                   {"mask entry 3e+09", "not an anchor index below 3"});
  expect_cfg_error(net + "[convolutional]\nfilters=8\n[route]\nlayers=-1e30\n" + kHead,
                   {":7:", "refers to layer -1e+30", "not an earlier layer"});
  expect_cfg_error(net + "[convolutional]\nfilters=8\n[shortcut]\nfrom=1e30\n" + kHead,
                   {":7:", "not an earlier layer"});
  std::ifstream in(YOLO4_SOURCE_DIR "/tests/data/fuzz/darknet_model/mask_beyond_int.bin",
                   std::ios::binary);
  ASSERT_TRUE(in);
  const std::string finding{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const std::string cfg = finding.substr(1, finding.find('\0') - 1);  // see fuzz_darknet_model
  expect_cfg_error(cfg, {"mask entry", "not an anchor index below 3"});
}

TEST(NetworkSpec, SizesAFileClaimsAreCheckedBeforeAnythingIsAllocated) {
  expect_cfg_error("[net]\nwidth=1000000\nheight=64\n" + std::string(kHead), {"width=1000000"});
  expect_cfg_error(std::string(kNet) + "[convolutional]\nfilters=100000000\n" + kHead,
                   {"filters=100000000"});
}

TEST(NetworkSpec, DarknetDefaults) {
  // No activation: darknet's logistic. pad=1: size / 2. [maxpool] without padding: size - 1.
  const CfgFile file(std::string(kNet) +
                     "[convolutional]\nfilters=8\nsize=5\npad=1\n[maxpool]\nsize=2\nstride=2\n" +
                     kHead);
  const NetworkSpec spec = parse_network(parse_darknet_cfg(file.path()));
  EXPECT_EQ(spec.layers[0].conv.activation, Activation::kLogistic);
  EXPECT_EQ(spec.layers[0].conv.padding, 2);
  EXPECT_EQ(spec.layers[1].pool_padding, 1);
  EXPECT_EQ(spec.layers[1].output, (Shape{1, 32, 32, 8}));
}

// The graph built from yolov4.cfg and the report's modules, on the same weights and options,
// compute the same heads: the graph's fusions and concats change nothing.
class GraphVsModules : public ::testing::TestWithParam<const char*> {};

TEST_P(GraphVsModules, SameHeadsAsTheYolov4Modules) {
  const ModelOptions options = ModelOptions::preset(GetParam());
  const Yolov4Weights weights = random_yolov4_weights(3);
  const Yolov4 modules(weights, options);
  std::vector<ConvParameters> params;
  for (const ConvWeights& c : weights.convs()) params.push_back({c.weight, c.bias});
  const Graph graph(parse_network(builtin_cfg("yolov4.cfg")), std::move(params), options);

  std::vector<float> image(size_t(256) * 256 * 3);
  for (size_t i = 0; i < image.size(); ++i) image[i] = float((i * 7919) % 1000) / 1000.0f;
  const Tensor input = from_nhwc(image.data(), {1, 256, 256, 3});
  Device device(2, graph.isa());
  const std::array<Tensor, 3> expected = modules(device, input);
  InferenceSession session(graph, device);
  for (int run = 0; run < 2; ++run) {  // captured, then replayed
    const std::vector<Tensor>& heads = session.run(input);
    ASSERT_EQ(heads.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(to_nhwc(heads[size_t(i)]), to_nhwc(expected[size_t(i)]))
          << GetParam() << " head " << i << " run " << run;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, GraphVsModules, ::testing::Values("fp32", "fast"));

TEST(Graph, FusesShortcutsAndWritesConcatsInPlace) {
  // YOLOv4 at 320: the arena the graph plans is no larger than the modules' (which the report's
  // deallocations and in-place concats keep small).
  const Yolov4Weights weights = random_yolov4_weights(3);
  std::vector<ConvParameters> params;
  for (const ConvWeights& c : weights.convs()) params.push_back({c.weight, c.bias});
  const Graph graph(parse_network(builtin_cfg("yolov4.cfg")), std::move(params));
  const Yolov4 modules(weights);
  std::vector<float> image(size_t(320) * 320 * 3, 0.5f);
  const Tensor input = from_nhwc(image.data(), {1, 320, 320, 3});
  Device graph_device(2), module_device(2);
  InferenceSession graph_session(graph, graph_device);
  InferenceSession module_session(modules, module_device);
  graph_session.run(input);
  module_session.run(input);
  EXPECT_LE(graph_session.arena_bytes(), module_session.arena_bytes());
}

// The convs' weights are transformed and packed on several threads while the model loads: each
// lands in its own conv, as on one thread (also run under ThreadSanitizer in CI).
TEST(Graph, PacksItsWeightsOnSeveralThreadsAsOnOne) {
  ModelSource source;
  source.builtin_cfg = "yolo-fastest-1.1-xl.cfg";  // plain and depthwise convs, 1x1 and 3x3
  source.options = ModelOptions::preset("fast");   // Winograd and bfloat8_b weights too
  source.options.pack_threads = 1;
  const DetectionModel one(source);
  source.options.pack_threads = 3;
  const DetectionModel three(source);
  const Shape shape{1, 64, 64, 3};
  std::vector<float> image(size_t(shape.elements()));
  for (size_t i = 0; i < image.size(); ++i) image[i] = float((i * 7919) % 1000) / 1000.0f;
  const Tensor input = from_nhwc(image.data(), shape);
  Device device(2, one.isa());
  const std::vector<Tensor> expected = one.graph()(device, input);
  const std::vector<Tensor> heads = three.graph()(device, input);
  ASSERT_EQ(heads.size(), expected.size());
  for (size_t i = 0; i < heads.size(); ++i) {
    EXPECT_EQ(to_nhwc(heads[i]), to_nhwc(expected[i])) << "head " << i;
  }
}

TEST(Graph, RejectsInputsThatDoNotFit) {
  const DetectionModel model(ModelSource{});
  EXPECT_THROW(model.graph().validate_input({1, 100, 320, 3}), Error);
  EXPECT_THROW(model.graph().validate_input({1, 320, 320, 1}), Error);
  EXPECT_NO_THROW(model.graph().validate_input({1, 416, 320, 3}));
}

// Collects what ops report when profiled.
struct Recorder final : OpObserver {
  std::vector<OpRecord> records;
  void record(const OpRecord& r) override { records.push_back(r); }
};

// The ISA is chosen once, in ModelOptions (--isa): the weights are packed for it, the model's
// Devices run it, so every op of a run (convs, depthwise convs, shortcuts, pools, upsample,
// routes) uses its kernels; a device with another ISA is refused before anything runs.
TEST(Graph, EveryOpRunsTheKernelsOfTheIsaTheModelWasPackedFor) {
  ModelSource source;
  source.builtin_cfg = "yolo-fastest-1.1-xl.cfg";  // depthwise convs too
  const Shape shape{1, 64, 64, 3};
  std::vector<float> image(size_t(shape.elements()));
  for (size_t i = 0; i < image.size(); ++i) image[i] = float((i * 7919) % 1000) / 1000.0f;
  const Tensor input = from_nhwc(image.data(), shape);
  for (Isa isa : supported_isas()) {
    source.options = ModelOptions::preset("fp32", isa);
    const DetectionModel model(source);
    ASSERT_EQ(model.isa(), isa);
    for (const Graph::ConvPlan& conv : model.graph().explain(shape, 2)) {
      EXPECT_TRUE(conv.kernel.ends_with("__" + std::string(to_string(isa))))
          << conv.name << " runs " << conv.kernel << ", expected the " << to_string(isa)
          << " kernels";
    }
    Device device(2, model.isa());
    Recorder recorder;
    device.set_observer(&recorder);
    model.graph()(device, input);
    std::set<std::string_view> ops;
    for (const OpRecord& r : recorder.records) {
      ops.insert(r.op);
      EXPECT_EQ(r.isa, isa) << r.op << " at " << r.path;
    }
    EXPECT_GE(ops.size(), 3u) << "convs and the ops between them";
    for (Isa other : supported_isas()) {
      if (other == isa) continue;
      Device wrong(1, other);
      try {
        model.graph()(wrong, input);
        ADD_FAILURE() << "a " << to_string(isa) << " model ran on a " << to_string(other)
                      << " device";
      } catch (const Error& e) {
        const std::string message = e.what();
        EXPECT_NE(
            message.find(detail::concat("yolo-fastest-1.1-xl.cfg (built in): weights "
                                        "packed for the ",
                                        to_string(isa), " kernels cannot run on a device with the ",
                                        to_string(other), " kernels")),
            std::string::npos)
            << message;
      }
    }
  }
}

// `auto` is one of the named presets, chosen per ISA, with the approximate mish where the table
// says, and says why.
TEST(AutoPreset, PicksANamedPresetPerIsa) {
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar}) {
    const AutoPreset chosen = auto_preset(isa);
    EXPECT_FALSE(chosen.why.empty());
    const ModelOptions a = ModelOptions::preset("auto", isa);
    ModelOptions named = ModelOptions::preset(chosen.preset, isa);
    EXPECT_FALSE(named.math_approx_mode) << chosen.preset;  // the named presets' mish is exact
    named.math_approx_mode = chosen.approx_mish;
    EXPECT_EQ(a.describe(), named.describe()) << to_string(isa);
    EXPECT_EQ(a.isa, isa);
    EXPECT_EQ(chosen.name().find("approximate") != std::string::npos, chosen.approx_mish);
  }
  // The portable kernels gain nothing from reduced precision; every vector ISA takes bf16.
  EXPECT_EQ(auto_preset(Isa::kScalar).preset, "fp32");
  EXPECT_EQ(auto_preset(Isa::kAvx2).preset, "bf16");
  // AMX's row only where the CPU runs LoFi on AMX tiles (the suite runs again without them).
  if (isa_supported(Isa::kAvx512)) {
    EXPECT_EQ(auto_preset(Isa::kAvx512).why.starts_with("AMX-BF16"),
              kernels::amx_bf16_products(Isa::kAvx512));
    // AMD Zen 4's own row: its VDPBF16PS measured the approximate mish level with the exact one.
    const bool zen4_vdpbf16ps = cpu_features().core == CpuCore::kAmdZen4 &&
                                kernels::native_bf16_products(Isa::kAvx512) &&
                                !kernels::amx_bf16_products(Isa::kAvx512);
    EXPECT_EQ(auto_preset(Isa::kAvx512).why.starts_with("AVX512_BF16 on AMD Zen 4"),
              zen4_vdpbf16ps);
    if (zen4_vdpbf16ps) {
      EXPECT_FALSE(auto_preset(Isa::kAvx512).approx_mish);
    }
  }
  EXPECT_THROW(ModelOptions::preset("fastest"), Error);
}

}  // namespace
}  // namespace yolo4
