// YOLOv4 module by module and whole, against the PyTorch reference (tests/python/yolov4_ref.py)
// on a random checkpoint that behaves like a trained one, through both weight loaders.
#include <gtest/gtest.h>

#include <map>

#include "model_test_util.h"
#include "yolo4/model/yolov4.h"

namespace yolo4 {
namespace {

using testing::expect_matches_reference;
using testing::npy_tensor;

constexpr double kFp32Pcc = 0.99999;

struct LoadedModel {
  std::shared_ptr<const Yolov4Weights> weights;
  std::unique_ptr<Yolov4> model;
};

const LoadedModel& loaded(const std::string& dir, const std::string& file) {
  static std::map<std::string, LoadedModel> cache;
  LoadedModel& m = cache[file];
  if (!m.model) {
    m.weights = std::make_shared<const Yolov4Weights>(load_yolov4_weights(dir + "/" + file));
    m.model = std::make_unique<Yolov4>(*m.weights);
  }
  return m;
}

class ModelPcc : public ::testing::TestWithParam<std::string> {};  // param: weights file

TEST_P(ModelPcc, ModulesAt320) {
  YOLO4_REQUIRE_TESTDATA(dir);
  const Yolov4& model = *loaded(dir, GetParam()).model;
  const std::string d = dir + "/s320/";
  Device device(2);
  expect_matches_reference(model.down1()(device, npy_tensor(d + "input.npy")), d + "down1.npy", kFp32Pcc);
  for (int stage = 2; stage <= 5; ++stage) {
    const Tensor in = npy_tensor(d + "down" + std::to_string(stage - 1) + ".npy");
    expect_matches_reference(model.down(stage)(device, in), d + "down" + std::to_string(stage) + ".npy",
                             kFp32Pcc);
  }
  const auto neck = model.neck()(device, npy_tensor(d + "down5.npy"), npy_tensor(d + "down4.npy"),
                                 npy_tensor(d + "down3.npy"));
  for (int i = 0; i < 3; ++i) {
    expect_matches_reference(neck[i], d + "neck" + std::to_string(i + 1) + ".npy", kFp32Pcc);
  }
  const auto heads = model.head()(device, npy_tensor(d + "neck1.npy"), npy_tensor(d + "neck2.npy"),
                                  npy_tensor(d + "neck3.npy"));
  const char* names[] = {"head8.npy", "head16.npy", "head32.npy"};
  for (int i = 0; i < 3; ++i) expect_matches_reference(heads[i], d + names[i], kFp32Pcc);
}

void expect_whole_model_matches(const Yolov4& model, const std::string& case_dir) {
  Device device(2);
  const auto heads = model(device, npy_tensor(case_dir + "input.npy"));
  const char* names[] = {"head8.npy", "head16.npy", "head32.npy"};
  for (int i = 0; i < 3; ++i) expect_matches_reference(heads[i], case_dir + names[i], kFp32Pcc);
}

TEST_P(ModelPcc, WholeModelAt320) {
  YOLO4_REQUIRE_TESTDATA(dir);
  expect_whole_model_matches(*loaded(dir, GetParam()).model, dir + "/s320/");
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
                           return info.param.find(".pth") != std::string::npos ? std::string("pth")
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
