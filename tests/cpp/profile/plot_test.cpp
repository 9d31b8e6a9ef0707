// The SVG writer and the plots: escaped, well-formed XML (checked by Python's parser) with the
// panels, axis titles and legends the perf sheet promises.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "profile_test_util.h"
#include "yolo4/profile/plots.h"
#include "yolo4/profile/svg.h"

namespace yolo4::profile {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void expect_well_formed(const std::string& path) {
  if (!yolo4::testing::python_available()) GTEST_SKIP() << "no /usr/bin/python3";
  EXPECT_EQ(yolo4::testing::parse_xml(path), 0) << path << " is not well-formed XML";
}

TEST(Svg, EscapesTextAndAttributes) {
  Svg svg(100, 50);
  svg.text(1, 2, "a < b & \"c\"");
  svg.rect(0, 0, 10, 10, "#fff", "tip <with> 'quotes'");
  svg.comment("no -- inside comments");
  const std::string s = svg.str();
  EXPECT_NE(s.find("a &lt; b &amp; &quot;c&quot;"), std::string::npos);
  EXPECT_NE(s.find("<title>tip &lt;with&gt; &apos;quotes&apos;</title>"), std::string::npos);
  EXPECT_EQ(s.find("no -- inside"), std::string::npos);
  const std::string path = (yolo4::testing::scratch_dir("svg") / "escape.svg").string();
  svg.save(path);
  expect_well_formed(path);
}

TEST(Plots, ProfileSvgIsWellFormedWithBothPanels) {
  const std::vector<OpRow> rows = yolo4::testing::synthetic_rows();
  const Svg svg = profile_svg(rows, {"float32/float32/HiFi4", "YOLOv4 320x320, 2 cores", 2});
  const std::string path = (yolo4::testing::scratch_dir("profile_svg") / "profile.svg").string();
  svg.save(path);
  const std::string text = read_file(path);
  for (const char* expected : {"(a) Per-op duration", "(b) Where the time goes",
                               "duration (ms, median)", "utilisation (%, dots)",
                               "Time by op type", "Time by module", "2 cores (full grid)",
                               ">down1<", ">head<", ">conv2d<"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing " << expected;
  }
  EXPECT_GT(svg.height(), 700);
  expect_well_formed(path);
}

TEST(Plots, CompareSvgIsWellFormedWithItsThreePanels) {
  const std::vector<OpRow> a = yolo4::testing::synthetic_rows(1.0);
  std::vector<OpRow> b = yolo4::testing::synthetic_rows(0.6);
  b.pop_back();  // an op only A ran still plots
  const Svg svg = compare_svg(a, {"fp32", "a.csv", 0}, b, {"bf16", "b.csv", 0});
  const std::string path = (yolo4::testing::scratch_dir("compare_svg") / "compare.svg").string();
  svg.save(path);
  const std::string text = read_file(path);
  for (const char* expected : {"per module", "per op", "per op type", "A: fp32", "B: bf16",
                               "B/A 0.60x"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing " << expected;
  }
  expect_well_formed(path);
}

TEST(Plots, EmptySheetStillMakesADocument) {
  const std::string path = (yolo4::testing::scratch_dir("empty_svg") / "empty.svg").string();
  profile_svg({}, {"empty", "", 1}).save(path);
  expect_well_formed(path);
}

}  // namespace
}  // namespace yolo4::profile
