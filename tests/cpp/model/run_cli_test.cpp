// `yolo4 run` end to end: the CLI's dumped heads against the PyTorch reference's, on the same
// input tensor, through both weight formats.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "model_test_util.h"
#include "yolo4/core/device.h"

namespace yolo4 {
namespace {

int run_yolo4(const std::string& args) {
  const std::string command =
      std::string(std::getenv("YOLO4_BIN")) + " " + args + " > /dev/null 2>&1";
  return std::system(command.c_str());
}

// The command's stdout and stderr together.
std::string yolo4_output(const std::string& args) {
  const std::string command = std::string(std::getenv("YOLO4_BIN")) + " " + args + " 2>&1";
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return output;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) output.append(buffer, n);
  pclose(pipe);
  return output;
}

class RunCli : public ::testing::TestWithParam<std::string> {};

TEST_P(RunCli, DumpsHeadsMatchingTheReference) {
  YOLO4_REQUIRE_TESTDATA(dir);
  const std::string out = ::testing::TempDir() + "/yolo4_run_" + GetParam();
  const std::string weights = dir + "/" + GetParam();
  ASSERT_EQ(run_yolo4("run --weights " + weights + " --input " + dir + "/s320/input.npy --dump " +
                      out + " --dtype float32 --weights-dtype float32 --fidelity hifi4"),
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
                           return info.param.find(".pth") != std::string::npos
                                      ? std::string("pth")
                                      : std::string("darknet");
                         });

TEST(RunCliErrors, RejectsBadArguments) {
  EXPECT_NE(run_yolo4("run --no-such-flag"), 0);
  EXPECT_NE(run_yolo4("run --size 100 --dump /tmp/x --input /nonexistent.npy"), 0);
  EXPECT_NE(run_yolo4("run --weights /nonexistent.pth --input /nonexistent.npy --dump /tmp/x"), 0);
  EXPECT_EQ(run_yolo4("run --help"), 0);
}

// More threads than usable CPUs only time-slice the cores: the CLI clamps and says so.
TEST(RunCliThreads, ClampsToTheUsableCpus) {
  const int usable = usable_cpu_count();
  const std::string out = yolo4_output("bench --size 32 --runs 1 --warmup 0 --json --threads " +
                                       std::to_string(usable + 7));
  EXPECT_NE(out.find("--threads " + std::to_string(usable + 7) + " is more than the " +
                     std::to_string(usable) + " usable CPUs; using " + std::to_string(usable)),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\"threads\": " + std::to_string(usable) + ","), std::string::npos) << out;
  const std::string within = yolo4_output("bench --size 32 --runs 1 --warmup 0 --json --threads 1");
  EXPECT_EQ(within.find("usable CPUs"), std::string::npos) << within;
  EXPECT_NE(within.find("\"threads\": 1,"), std::string::npos) << within;
  EXPECT_NE(yolo4_output("bench --help").find("clamped"), std::string::npos);
}

// --isa picks the kernels once, for the whole run: every conv (direct, Winograd, depthwise)
// is packed for them and the header names them (graph_test checks the other ops).
TEST(RunCliIsa, EveryConvRunsTheKernelsTheIsaFlagNames) {
  for (Isa isa : supported_isas()) {
    const std::string name(to_string(isa));
    const std::string out = yolo4_output(
        "bench --model yolo-fastest-1.1-xl --size 64 --runs 1 --warmup 0 --threads 1 "
        "--explain --isa " +
        name);
    std::istringstream lines(out);
    int convs = 0;
    for (std::string line; std::getline(lines, line);) {
      if (!line.starts_with("conv") || line.starts_with("conv ")) continue;  // the header
      ++convs;
      const std::string kernel_isa = line.substr(line.rfind("__") + 2);  // e.g. avx512bf16
      EXPECT_TRUE(kernel_isa.starts_with(name)) << "--isa " << name << ": " << line;
    }
    EXPECT_GT(convs, 50) << out;
    EXPECT_NE(out.find(", " + name + " kernels, 1 runs"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace yolo4
