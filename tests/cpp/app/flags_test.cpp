// The commands' flag parsing (apps/yolo4/args.h on CLI11): every mistake is one line on stderr
// naming the flag and what is wrong, exit code 1, nothing on stdout.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "app_test_util.h"
#include "yolo4/core/cpu_features.h"
#include "yolo4/model/options.h"

namespace yolo4::app_test {
namespace {

TEST(Flags, MistakesAreOneLineNamingTheFlag) {
  TempDir dir;
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"detect", "--frobnicate", "x.jpg"},
       "yolo4 detect: error: unknown option '--frobnicate' (see --help)"},
      {{"detect", "--frobnicate=3", "x.jpg"}, "unknown option '--frobnicate' (see --help)"},
      {{"detect", "-q", "x.jpg"}, "unknown option '-q' (see --help)"},
      {{"detect", "--conf", "1.5", "x.jpg"},
       "yolo4 detect: error: --conf: 1.5 is out of range [0, 1]"},
      {{"detect", "--conf=abc", "x.jpg"}, "--conf: 'abc' is not a number"},
      {{"detect", "--max-det", "-1", "x.jpg"}, "--max-det: -1 is out of range [0, 1000000]"},
      {{"detect", "--nms-kind", "soft", "x.jpg"}, "--nms-kind 'soft': expected iou or diou"},
      {{"eval", "--limit", "ten"}, "yolo4 eval: error: --limit: 'ten' is not a whole number"},
      {{"eval", "--limit", "1.5"}, "--limit: '1.5' is not a whole number"},
      {{"eval", "--annotations", "a.json", "--results", "r.json", "--nms", "2"},
       "--nms: 2 is out of range [0, 1]"},
      {{"serve", "--port", "70000"},
       "yolo4 serve: error: --port: 70000 is out of range [0, 65535]"},
      // "--json=" is an empty value, not a reason to take the next argument (an input).
      {{"detect", "--json=", "x.jpg"}, "yolo4 detect: error: --json needs a file name or '-'"},
      {{"detect", "--quiet=", "x.jpg"}, "yolo4 detect: error: --quiet takes no value"},
      {{"run", "stray"}, "yolo4 run: error: unexpected argument 'stray' (see --help)"},
      {{"bench", "--runs"}, "yolo4 bench: error: --runs"},
  };
  for (const Case& c : cases) {
    const RunResult r = run_yolo4(c.args, dir);
    std::string shown;
    for (const std::string& a : c.args) shown += a + " ";
    EXPECT_EQ(r.exit_code, 1) << shown << describe(r);
    EXPECT_NE(r.err.find(c.message), std::string::npos)
        << shown << "expected: " << c.message << "\n"
        << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << shown << "one line:\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << shown << r.out;
  }
}

TEST(Flags, TheLastOfARepeatedFlagCounts) {
  TempDir dir;
  // The out-of-range first --conf is replaced, so the error is the unknown flag after it.
  const RunResult r =
      run_yolo4({"detect", "--conf", "2", "--conf", "0.5", "--bogus", "x.jpg"}, dir);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("unknown option '--bogus'"), std::string::npos) << r.err;
}

TEST(Flags, SharedDetectionFlagsAreInDetectAndEvalHelp) {
  TempDir dir;
  for (const std::string command : {"detect", "eval"}) {
    const RunResult help = run_yolo4({command, "--help"}, dir);
    EXPECT_EQ(help.exit_code, 0) << describe(help);
    for (const char* flag : {"--nms T", "--nms-kind K", "--class-agnostic-nms", "--multi-label",
                             "--scale-xy S", "--letterbox", "--preset NAME", "-h,--help"}) {
      EXPECT_NE(help.out.find(flag), std::string::npos) << command << ": " << flag << "\n"
                                                        << help.out;
    }
  }
}

// `yolo4 bench` of the small built-in yolov4-tiny, once, with `flags` (and `env`): the exit
// code, and the JSON line when there is one (else empty).
struct TinyBench {
  RunResult run;
  nlohmann::json json;
};
TinyBench tiny_bench(const TempDir& dir, const std::vector<std::string>& flags,
                     const std::string& env = "") {
  std::vector<std::string> args = {"bench", "--model",  "yolov4-tiny", "--runs",
                                   "1",     "--warmup", "0",           "--json"};
  args.insert(args.end(), flags.begin(), flags.end());
  TinyBench b{run_yolo4(args, dir, env), {}};
  const size_t line = b.run.out.rfind('{');
  if (b.run.exit_code == 0 && line != std::string::npos) {
    b.json = nlohmann::json::parse(b.run.out.substr(line));
  }
  return b;
}

// --approx adds the approximate mish to any preset; it does not take away the one auto's table
// gives it (with AVX512_BF16: bf16 with the approximate mish).
TEST(Flags, ApproxAddsToThePresetAndAutoKeepsItsOwn) {
  TempDir dir;
  const auto approx_of = [&](const std::vector<std::string>& flags) {
    const TinyBench b = tiny_bench(dir, flags);
    EXPECT_EQ(b.run.exit_code, 0) << describe(b.run);
    return !b.json.empty() && b.json["approx"] == true;
  };
  EXPECT_EQ(approx_of({"--preset", "auto"}), auto_preset(best_isa()).approx_mish);
  EXPECT_FALSE(approx_of({"--preset", "bf16"}));
  EXPECT_TRUE(approx_of({"--preset", "bf16", "--approx"}));
  EXPECT_TRUE(approx_of({"--preset", "auto", "--approx"}));
}

// --compact-weights keeps bfloat8_b weights as their blocks (17 bytes per 16 weights) instead of
// their bfloat16 values: about half the resident bytes (the numbers are the same: the ops tests).
// report: every conv direct, so on every ISA every one keeps bfloat8_b weights (fast takes fp32's
// on some convs where LoFi's products are widened).
TEST(Flags, CompactWeightsKeepBfloat8bBlocks) {
  TempDir dir;
  const TinyBench values_run = tiny_bench(dir, {"--preset", "report"});
  const TinyBench blocks_run = tiny_bench(dir, {"--preset", "report", "--compact-weights"});
  EXPECT_EQ(values_run.run.exit_code, 0) << describe(values_run.run);
  EXPECT_EQ(blocks_run.run.exit_code, 0) << describe(blocks_run.run);
  const nlohmann::json &values = values_run.json, &blocks = blocks_run.json;
  ASSERT_FALSE(values.empty());
  ASSERT_FALSE(blocks.empty());
  EXPECT_EQ(values["compact_weights"], false);
  EXPECT_EQ(blocks["compact_weights"], true);
  const double ratio = blocks["weight_bytes"].get<double>() / values["weight_bytes"].get<double>();
  EXPECT_NEAR(ratio, 17.0 / 32, 0.005);  // a block's 17 bytes against 16 bfloat16 values
}

// YOLO4_CPU_DISABLE runs yolo4 as on a CPU without the listed features: the best ISA, auto's
// choice and --isa all follow it, and a misspelt feature is one clear error.
TEST(Flags, CpuDisableRunsAsOnACpuWithoutTheFeatures) {
  if (!isa_supported(Isa::kAvx2)) GTEST_SKIP() << "this CPU has no AVX2";
  TempDir dir;
  const TinyBench avx2 = tiny_bench(dir, {}, "YOLO4_CPU_DISABLE=avx512");
  ASSERT_EQ(avx2.run.exit_code, 0) << describe(avx2.run);
  EXPECT_EQ(avx2.json["isa"], "avx2");
  EXPECT_EQ(avx2.json["approx"], auto_preset(Isa::kAvx2).approx_mish);
  // The core design stays the CPU's (the tables' rows name it), whatever features are disabled.
  EXPECT_EQ(avx2.json["cpu_core"], std::string(to_string(cpu_features().core)));

  const RunResult refused = tiny_bench(dir, {"--isa", "avx512"}, "YOLO4_CPU_DISABLE=avx512").run;
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("--isa avx512: this CPU cannot run it"), std::string::npos)
      << describe(refused);

  const RunResult scalar = tiny_bench(dir, {}, "YOLO4_CPU_DISABLE=avx2").run;
  ASSERT_EQ(scalar.exit_code, 0) << describe(scalar);
  EXPECT_NE(scalar.out.find("\"isa\": \"scalar\""), std::string::npos) << describe(scalar);

  const RunResult bad = tiny_bench(dir, {}, "YOLO4_CPU_DISABLE=avx-512").run;
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("YOLO4_CPU_DISABLE: unknown feature 'avx-512'"), std::string::npos)
      << describe(bad);
}

// yolo4 info names what the run sees: the features less YOLO4_CPU_DISABLE's (scripts grep this
// line), the kernels it picks, what auto stands for; --version is its first line.
TEST(Info, NamesTheFeaturesAndKernelsTheRunSees) {
  TempDir dir;
  const RunResult info = run_yolo4({"info"}, dir);
  ASSERT_EQ(info.exit_code, 0) << describe(info);
  const char* disabled = std::getenv("YOLO4_CPU_DISABLE");  // the suite's AVX2-only pass sets it
  const std::string names = feature_names(cpu_features());
  const std::string features_line =
      "\nfeatures: " + (names.empty() ? "none" : names) +
      (disabled ? std::string("  (less YOLO4_CPU_DISABLE=") + disabled + ")" : "") + "\n";
  EXPECT_NE(info.out.find(features_line), std::string::npos) << describe(info);
  EXPECT_NE(info.out.find("\nkernels: " + std::string(to_string(best_isa())) + " "),
            std::string::npos)
      << describe(info);
  EXPECT_NE(info.out.find("--preset auto: " + auto_preset(best_isa()).name() + " ("),
            std::string::npos)
      << describe(info);

  const RunResult version = run_yolo4({"--version"}, dir);
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, info.out.substr(0, info.out.find('\n') + 1));

  if (!cpu_features().avx2_fma) return;
  const RunResult less = run_yolo4({"info"}, dir, "YOLO4_CPU_DISABLE=avx512");
  ASSERT_EQ(less.exit_code, 0) << describe(less);
  EXPECT_NE(less.out.find("\nfeatures: avx2  (less YOLO4_CPU_DISABLE=avx512)\n"), std::string::npos)
      << describe(less);
  EXPECT_NE(less.out.find("\nkernels: avx2 "), std::string::npos) << describe(less);
}

}  // namespace
}  // namespace yolo4::app_test
