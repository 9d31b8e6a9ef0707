// YOLOv4 module by module and whole, against the PyTorch reference (tests/python/yolov4_ref.py)
// on a random checkpoint that behaves like a trained one, through both weight loaders.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

#include "model_test_util.h"
#include "yolo4/model/yolov4.h"

namespace yolo4 {
namespace {

using testing::expect_matches_reference;
using testing::npy_tensor;

constexpr double kFp32Pcc = 0.99999;

constexpr double kReducedPrecisionPcc = 0.99;

struct LoadedModel {
  std::shared_ptr<const Yolov4Weights> weights;
  std::unique_ptr<Yolov4> model;
  std::map<std::string, std::unique_ptr<Yolov4>> presets;  // built on first use
};

LoadedModel& loaded(const std::string& dir, const std::string& file) {
  static std::map<std::string, LoadedModel> cache;
  LoadedModel& m = cache[file];
  if (!m.model) {
    m.weights = std::make_shared<const Yolov4Weights>(load_yolov4_weights(dir + "/" + file));
    m.model = std::make_unique<Yolov4>(*m.weights);
  }
  return m;
}

// The random .pth checkpoint's model in a named configuration: a ModelOptions preset,
// "fp32-direct" (fp32 with every conv direct, no Winograd) or "<preset>-avx2" (the preset on the
// AVX2 kernels, whose layer table differs: fp32 takes F(6x6) also at 128 -> 128, and bf16/fast
// take fp32's weights and tiles where fp32's tile is larger).
const Yolov4& preset_model(const std::string& dir, const std::string& name) {
  LoadedModel& m = loaded(dir, "yolov4_random.pth");
  std::unique_ptr<Yolov4>& model = m.presets[name];
  if (!model) {
    const size_t avx2 = name.rfind("-avx2");
    ModelOptions options = avx2 != std::string::npos
                               ? ModelOptions::preset(name.substr(0, avx2), Isa::kAvx2)
                               : ModelOptions::preset(name == "fp32-direct" ? "fp32" : name);
    if (name == "fp32-direct") options.winograd = false;
    model = std::make_unique<Yolov4>(*m.weights, options);
  }
  return *model;
}

// Every module on the reference's own inputs, each output against the reference's.
void expect_modules_match(const Yolov4& model, const std::string& d, double min_pcc) {
  const DataType dtype = model.options().dtype;
  Device device(2, model.isa());
  expect_matches_reference(model.down1()(device, npy_tensor(d + "input.npy")), d + "down1.npy",
                           min_pcc);
  for (int stage = 2; stage <= 5; ++stage) {
    const Tensor in = npy_tensor(d + "down" + std::to_string(stage - 1) + ".npy", dtype);
    expect_matches_reference(model.down(stage)(device, in),
                             d + "down" + std::to_string(stage) + ".npy", min_pcc);
  }
  // Our Neck returns {x20, x13, x6} (strides 8, 16, 32); the dumps follow tt-metal's order:
  // neck1 = x20, neck2 = x6, neck3 = x13.
  const char* neck_files[] = {"neck1.npy", "neck3.npy", "neck2.npy"};
  const auto neck =
      model.neck()(device, npy_tensor(d + "down5.npy", dtype), npy_tensor(d + "down4.npy", dtype),
                   npy_tensor(d + "down3.npy", dtype));
  for (int i = 0; i < 3; ++i) expect_matches_reference(neck[i], d + neck_files[i], min_pcc);
  const auto heads =
      model.head()(device, npy_tensor(d + neck_files[0], dtype),
                   npy_tensor(d + neck_files[1], dtype), npy_tensor(d + neck_files[2], dtype));
  const char* names[] = {"head8.npy", "head16.npy", "head32.npy"};
  for (int i = 0; i < 3; ++i) expect_matches_reference(heads[i], d + names[i], min_pcc);
}

class ModelPcc : public ::testing::TestWithParam<std::string> {};  // param: weights file

TEST_P(ModelPcc, ModulesAt320) {
  YOLO4_REQUIRE_TESTDATA(dir);
  expect_modules_match(*loaded(dir, GetParam()).model, dir + "/s320/", kFp32Pcc);
}

void expect_whole_model_matches(const Yolov4& model, const std::string& case_dir,
                                double min_pcc = kFp32Pcc) {
  Device device(2, model.isa());
  const auto heads = model(device, npy_tensor(case_dir + "input.npy"));
  const char* names[] = {"head8.npy", "head16.npy", "head32.npy"};
  for (int i = 0; i < 3; ++i) expect_matches_reference(heads[i], case_dir + names[i], min_pcc);
}

// The reduced-precision presets against the fp32 reference: PCC >= 0.99 on every module and
// every head. bf16: bfloat16 activations and weights, LoFi, Winograd; report: the report's
// bfloat16 activations, bfloat8_b weights, LoFi, direct; fast: report with Winograd; auto: what
// it picks on this CPU (options.cpp's table: bf16 on AVX-512 and AVX2, with the approximate mish
// but where AVX-512 lacks AVX512_BF16).
// "-avx2": on the AVX2 kernels, where LoFi's products are widened and bf16/fast take fp32's weights
// and larger tiles on some convs (on an AVX2-only CPU the plain presets are these already).
class PresetPcc : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam().ends_with("-avx2") && (!isa_supported(Isa::kAvx2) || best_isa() == Isa::kAvx2)) {
      GTEST_SKIP() << "the AVX2 kernels are not another ISA's here";
    }
  }
};

TEST_P(PresetPcc, ModulesAt320) {
  YOLO4_REQUIRE_TESTDATA(dir);
  expect_modules_match(preset_model(dir, GetParam()), dir + "/s320/", kReducedPrecisionPcc);
}

TEST_P(PresetPcc, WholeModelAt320And640) {
  YOLO4_REQUIRE_TESTDATA(dir);
  const Yolov4& model = preset_model(dir, GetParam());
  expect_whole_model_matches(model, dir + "/s320/", kReducedPrecisionPcc);
  expect_whole_model_matches(model, dir + "/s640/", kReducedPrecisionPcc);
}

INSTANTIATE_TEST_SUITE_P(ReducedPrecision, PresetPcc,
                         ::testing::Values("bf16", "report", "fast", "auto", "bf16-avx2",
                                           "fast-avx2", "auto-avx2"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The direct convolution everywhere (--no-winograd) matches as tightly as the default.
TEST(DirectConvModelPcc, WholeModelAt320) {
  YOLO4_REQUIRE_TESTDATA(dir);
  expect_whole_model_matches(preset_model(dir, "fp32-direct"), dir + "/s320/");
}

// The AVX2 kernels and their layer table keep fp32's PCC (on AVX-512 machines too, with --isa).
TEST(Avx2KernelsModelPcc, WholeModelAt320And640) {
  YOLO4_REQUIRE_TESTDATA(dir);
  if (!isa_supported(Isa::kAvx2)) GTEST_SKIP() << "this CPU has no AVX2";
  const Yolov4& model = preset_model(dir, "fp32-avx2");
  ASSERT_EQ(model.isa(), Isa::kAvx2);
  expect_whole_model_matches(model, dir + "/s320/");
  expect_whole_model_matches(model, dir + "/s640/");
}

TEST_P(ModelPcc, WholeModelAt320) {
  YOLO4_REQUIRE_TESTDATA(dir);
  expect_whole_model_matches(*loaded(dir, GetParam()).model, dir + "/s320/");
}

TEST_P(ModelPcc, WholeModelAt416) {
  YOLO4_REQUIRE_TESTDATA(dir);
  expect_whole_model_matches(*loaded(dir, GetParam()).model, dir + "/s416/");
}

TEST_P(ModelPcc, WholeModelAt640) {
  YOLO4_REQUIRE_TESTDATA(dir);
  expect_whole_model_matches(*loaded(dir, GetParam()).model, dir + "/s640/");
}

TEST_P(ModelPcc, WholeModelBatch2At320) {
  YOLO4_REQUIRE_TESTDATA(dir);
  expect_whole_model_matches(*loaded(dir, GetParam()).model, dir + "/s320_b2/");
}

INSTANTIATE_TEST_SUITE_P(BothLoaders, ModelPcc,
                         ::testing::Values("yolov4_random.pth", "yolov4_random.weights"),
                         [](const auto& info) {
                           return info.param.find(".pth") != std::string::npos
                                      ? std::string("pth")
                                      : std::string("darknet");
                         });

TEST(WeightsLoaders, PthAndDarknetGiveIdenticalWeights) {
  YOLO4_REQUIRE_TESTDATA(dir);
  const Yolov4Weights& a = *loaded(dir, "yolov4_random.pth").weights;
  const Yolov4Weights& b = *loaded(dir, "yolov4_random.weights").weights;
  ASSERT_EQ(a.convs().size(), b.convs().size());
  for (size_t i = 0; i < a.convs().size(); ++i) {
    EXPECT_EQ(a.convs()[i].weight, b.convs()[i].weight) << a.convs()[i].spec->key;
    EXPECT_EQ(a.convs()[i].bias, b.convs()[i].bias) << a.convs()[i].spec->key;
  }
}

}  // namespace
}  // namespace yolo4
