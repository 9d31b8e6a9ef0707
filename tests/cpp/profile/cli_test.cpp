// The command line: `yolo4 profile` at a small size writes a sheet --compare can read, and
// `--compare A.csv B.csv --plot` prints the comparison and writes a well-formed SVG.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "profile_test_util.h"
#include "yolo4/profile/profiler.h"

namespace yolo4::profile {
namespace {

struct Result {
  int status;
  std::string output;
};

Result run(const std::string& command) {
  Result r{-1, ""};
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) r.output.append(buffer, n);
  r.status = pclose(pipe);
  return r;
}

#define YOLO4_REQUIRE_BINARY(bin)                         \
  const std::string bin = yolo4::testing::yolo4_binary(); \
  if (bin.empty()) GTEST_SKIP() << "yolo4 binary not built"

TEST(ProfileCli, CompareTwoSheets) {
  YOLO4_REQUIRE_BINARY(bin);
  const auto dir = yolo4::testing::scratch_dir("cli_compare");
  write_csv_file((dir / "fp32.csv").string(), yolo4::testing::synthetic_rows(1.0));
  write_csv_file((dir / "bf16.csv").string(), yolo4::testing::synthetic_rows(0.5));
  const std::string svg = (dir / "compare.svg").string();
  const Result r = run(bin + " profile --compare " + (dir / "fp32.csv").string() + " " +
                       (dir / "bf16.csv").string() + " --plot " + svg);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("down3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("0.50x"), std::string::npos) << r.output;
  if (yolo4::testing::python_available()) {
    EXPECT_EQ(yolo4::testing::parse_xml(svg), 0);
  }
}

TEST(ProfileCli, CompareNeedsTwoReadableSheets) {
  YOLO4_REQUIRE_BINARY(bin);
  const auto dir = yolo4::testing::scratch_dir("cli_compare_bad");
  EXPECT_NE(run(bin + " profile --compare " + (dir / "a.csv").string()).status, 0);
  std::ofstream((dir / "junk.csv").string()) << "not,a,sheet\n";
  const Result r = run(bin + " profile --compare " + (dir / "junk.csv").string() + " " +
                       (dir / "junk.csv").string());
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("not a yolo4 perf sheet"), std::string::npos) << r.output;
}

TEST(ProfileCli, ProfilesASmallInputIntoASheetAndPlot) {
  YOLO4_REQUIRE_BINARY(bin);
  const auto dir = yolo4::testing::scratch_dir("cli_profile");
  const std::string csv = (dir / "sheet.csv").string(), svg = (dir / "sheet.svg").string();
  const Result r =
      run(bin + " profile --size 64 --runs 1 --warmup 0 --csv " + csv + " --plot " + svg);
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* expected :
       {"per core", "read bandwidth", "unprofiled median", "sum of op medians", "by nearer roof",
        "slowest ops", "util", "dram"}) {
    EXPECT_NE(r.output.find(expected), std::string::npos) << "missing " << expected << "\n"
                                                          << r.output;
  }
  const std::vector<OpRow> rows = read_csv_file(csv);
  EXPECT_GE(rows.size(), 110u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].index, int(i));
    if (rows[i].op == "conv2d") {  // every conv moves bytes, at the measured bandwidth
      EXPECT_GT(rows[i].dram_ideal_ns, 0) << rows[i].path;
      EXPECT_GT(rows[i].dram_utilisation, 0) << rows[i].path;
    }
  }
  if (yolo4::testing::python_available()) {
    EXPECT_EQ(yolo4::testing::parse_xml(svg), 0);
  }
}

}  // namespace
}  // namespace yolo4::profile
