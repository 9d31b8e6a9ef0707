// The perf sheet's CSV: the header the issue names, one row per op with as many fields, and a
// lossless round trip (what --compare reads back).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "profile_test_util.h"
#include "yolo4/core/error.h"
#include "yolo4/profile/profiler.h"

namespace yolo4::profile {
namespace {

constexpr const char* kHeaderLine =
    "index,path,op,input_shape,output_shape,dtype,weights_dtype,fidelity,shard_layout,cores,"
    "duration_ns,flops,ideal_ns,utilisation,bytes,arithmetic_intensity,dram_ideal_ns,"
    "dram_utilisation";

TEST(PerfSheetCsv, HeaderNamesEveryColumnInOrder) {
  EXPECT_EQ(csv_header(), split_csv_line(kHeaderLine));
}

TEST(PerfSheetCsv, EveryLineHasTheHeadersFieldCount) {
  const std::vector<OpRow> rows = yolo4::testing::synthetic_rows();
  std::ostringstream out;
  write_csv(out, rows);
  std::istringstream in(out.str());
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(split_csv_line(line).size(), csv_header().size()) << "line " << lines + 1;
    ++lines;
  }
  EXPECT_EQ(lines, int(rows.size()) + 1);
  EXPECT_EQ(out.str().substr(0, out.str().find('\n')), kHeaderLine);
}

void expect_same(const OpRow& a, const OpRow& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.path, b.path);
  EXPECT_EQ(a.op, b.op);
  EXPECT_EQ(a.input_shape, b.input_shape);
  EXPECT_EQ(a.output_shape, b.output_shape);
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_EQ(a.weights_dtype, b.weights_dtype);
  EXPECT_EQ(a.fidelity, b.fidelity);
  EXPECT_EQ(a.shard_layout, b.shard_layout);
  EXPECT_EQ(a.cores, b.cores);
  EXPECT_EQ(a.duration_ns, b.duration_ns);
  EXPECT_EQ(a.flops, b.flops);  // written with max_digits10: exact
  EXPECT_EQ(a.ideal_ns, b.ideal_ns);
  EXPECT_EQ(a.utilisation, b.utilisation);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.arithmetic_intensity, b.arithmetic_intensity);
  EXPECT_EQ(a.dram_ideal_ns, b.dram_ideal_ns);
  EXPECT_EQ(a.dram_utilisation, b.dram_utilisation);
}

TEST(PerfSheetCsv, RoundTripsThroughAFile) {
  std::vector<OpRow> rows = yolo4::testing::synthetic_rows();
  rows[3].path = "odd, \"quoted\" path";  // quoting survives too
  rows[5].utilisation = 1.0 / 3.0;
  const std::string path = (yolo4::testing::scratch_dir("csv") / "sheet.csv").string();
  write_csv_file(path, rows);
  const std::vector<OpRow> back = read_csv_file(path);
  ASSERT_EQ(back.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(i);
    expect_same(rows[i], back[i]);
  }
}

// A sheet written before the DRAM columns (--compare against an older run) still reads, its DRAM
// columns 0; a header cut anywhere else does not.
TEST(PerfSheetCsv, ReadsSheetsWrittenBeforeTheDramColumns) {
  std::vector<OpRow> rows = yolo4::testing::synthetic_rows();
  std::ostringstream out;
  write_csv(out, rows);
  std::istringstream in(out.str());
  std::string line, old;
  while (std::getline(in, line)) {
    std::vector<std::string> fields = split_csv_line(line);
    fields.resize(16);  // up to arithmetic_intensity
    for (size_t i = 0; i < fields.size(); ++i) old += (i ? "," : "") + fields[i];
    old += "\n";
  }
  std::istringstream old_sheet(old);
  const std::vector<OpRow> back = read_csv(old_sheet, "old.csv");
  ASSERT_EQ(back.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(i);
    rows[i].dram_ideal_ns = rows[i].dram_utilisation = 0;
    expect_same(rows[i], back[i]);
  }
  std::string cut = out.str();
  cut.erase(cut.find(",dram_utilisation"), std::string(",dram_utilisation").size());
  std::istringstream cut_sheet(cut);
  EXPECT_THROW(read_csv(cut_sheet, "cut.csv"), Error);
}

TEST(PerfSheetCsv, RejectsOtherFilesWithAClearMessage) {
  std::istringstream not_a_sheet("a,b,c\n1,2,3\n");
  EXPECT_THROW(read_csv(not_a_sheet), Error);
  std::ostringstream out;
  write_csv(out, yolo4::testing::synthetic_rows());
  std::string text = out.str();
  text.insert(text.find('\n') + 1, "0,path,op,only,six,fields\n");
  std::istringstream short_row(text);
  try {
    read_csv(short_row, "sheet.csv");
    FAIL() << "a short row was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sheet.csv:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_csv_file("/nonexistent/sheet.csv"), Error);
}

TEST(PerfSheetCsv, SplitsQuotedFields) {
  EXPECT_EQ(split_csv_line("a,\"b,c\",\"d\"\"e\",,f\r"),
            (std::vector<std::string>{"a", "b,c", "d\"e", "", "f"}));
}

}  // namespace
}  // namespace yolo4::profile
