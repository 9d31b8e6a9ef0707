// `yolo4 run` end to end: the CLI's dumped heads against the PyTorch reference's, on the same
// input tensor, through both weight formats.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "model_test_util.h"

namespace yolo4 {
namespace {

int run_yolo4(const std::string& args) {
  const std::string command = std::string(std::getenv("YOLO4_BIN")) + " " + args + " > /dev/null 2>&1";
  return std::system(command.c_str());
}

class RunCli : public ::testing::TestWithParam<std::string> {};

TEST_P(RunCli, DumpsHeadsMatchingTheReference) {
  YOLO4_REQUIRE_TESTDATA(dir);
  const std::string out = ::testing::TempDir() + "/yolo4_run_" + GetParam();
  const std::string weights = dir + "/" + GetParam();
  ASSERT_EQ(run_yolo4("run --weights " + weights + " --input " + dir + "/s320/input.npy --dump " + out +
                      " --dtype float32 --weights-dtype float32 --fidelity hifi4"),
            0);
  for (const char* name : {"head8.npy", "head16.npy", "head32.npy"}) {
    const HostArray got = read_npy(out + "/" + name);
    const HostArray expected = read_npy(dir + "/s320/" + name);
    ASSERT_EQ(got.shape, expected.shape) << name;
    const double p = testing::pcc(got.data, expected.data);
    std::printf("  yolo4 run %-12s PCC %.7f  max abs err %.3g\n", name, p,
                testing::max_abs_error(got.data, expected.data));
    EXPECT_GE(p, 0.99999) << name;
  }
  std::filesystem::remove_all(out);
}

INSTANTIATE_TEST_SUITE_P(BothLoaders, RunCli,
                         ::testing::Values("yolov4_random.pth", "yolov4_random.weights"),
                         [](const auto& info) {
                           return info.param.find(".pth") != std::string::npos ? std::string("pth")
                                                                               : std::string("darknet");
                         });

TEST(RunCliErrors, RejectsBadArguments) {
  EXPECT_NE(run_yolo4("run --no-such-flag"), 0);
  EXPECT_NE(run_yolo4("run --size 100 --dump /tmp/x --input /nonexistent.npy"), 0);
  EXPECT_NE(run_yolo4("run --weights /nonexistent.pth --input /nonexistent.npy --dump /tmp/x"), 0);
  EXPECT_EQ(run_yolo4("run --help"), 0);
}

}  // namespace
}  // namespace yolo4
