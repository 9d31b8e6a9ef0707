// What a failing input, a failing run and an interrupted run leave on disk: the JSON lists every
// good input and stays valid, annotated copies exist for the good inputs, the files of a run
// that fails or is killed are the previous ones or none, and no temporary file is left behind.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <thread>

#include "app_test_util.h"

namespace yolo4::app_test {
namespace {

// Every file under `dir`, relative to it, hidden ones included; run_shell's own captures
// (.stdout, .stderr) left out.
std::set<std::string> files_under(const TempDir& dir) {
  std::set<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir.path())) {
    const std::string relative = fs::relative(entry.path(), dir.path()).string();
    if (!entry.is_directory() && relative != ".stdout" && relative != ".stderr") {
      files.insert(relative);
    }
  }
  return files;
}

// The lines of `text` that contain `part`.
std::vector<std::string> lines_naming(const std::string& text, const std::string& part) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(part) != std::string::npos) lines.push_back(line);
  }
  return lines;
}

nlohmann::json parse_json_file(const std::string& path) {
  const std::string text = read_file(path);
  EXPECT_TRUE(nlohmann::json::accept(text)) << path << " is not valid JSON:\n" << text;
  return nlohmann::json::accept(text) ? nlohmann::json::parse(text) : nlohmann::json();
}

TEST(DetectPartialOutput, BadInputsAmongGoodOnesLeaveValidJsonAndTheGoodCopies) {
  REQUIRE_CHECKPOINT();
  TempDir dir;
  fs::create_directory(dir / "in");
  const std::vector<std::string> good = {"dog.jpg", "eagle.jpg", "kite.jpg", "person.jpg"};
  for (const std::string& name : good) fs::copy_file(sample_image(name), dir / ("in/" + name));
  const std::string jpeg = read_file(sample_image("giraffe.jpg"));
  write_file(dir / "in/truncated.jpg", jpeg.substr(0, jpeg.size() / 2));
  write_file(dir / "in/text.jpg", "a text file named .jpg\n");
  const RunResult r =
      run_yolo4({"detect", "--weights", random_checkpoint(), "--size", "64", "--json",
                 "out/det.json", "--out", "ann", "in/dog.jpg", "in/truncated.jpg", "in/eagle.jpg",
                 "in/text.jpg", "in/kite.jpg", "in/person.jpg"},
                dir);
  EXPECT_EQ(r.exit_code, 1) << "a failed input makes the exit code 1\n" << describe(r);

  // One line for each bad input, naming it and saying why.
  for (const std::string bad : {"in/truncated.jpg", "in/text.jpg"}) {
    const std::vector<std::string> lines = lines_naming(r.err, bad);
    ASSERT_EQ(lines.size(), 1u) << bad << "\n" << r.err;
    EXPECT_GT(lines[0].size(), std::string("yolo4 detect: ").size() + bad.size() + 10) << lines[0];
  }
  EXPECT_NE(lines_naming(r.err, "in/truncated.jpg")[0].find("truncated JPEG"), std::string::npos);

  const nlohmann::json results = parse_json_file(dir / "out/det.json");
  ASSERT_TRUE(results.is_array());
  ASSERT_EQ(results.size(), good.size()) << results.dump(1);
  for (size_t i = 0; i < good.size(); ++i) {
    const nlohmann::json& entry = results[i];
    const cv::Mat original = cv::imread(sample_image(good[i]));
    EXPECT_EQ(entry.at("image"), "in/" + good[i]);
    EXPECT_EQ(entry.at("width"), original.cols);
    EXPECT_EQ(entry.at("height"), original.rows);
    ASSERT_TRUE(entry.at("detections").is_array());
    for (const nlohmann::json& d : entry.at("detections")) {
      EXPECT_TRUE(d.at("class").is_string());
      EXPECT_EQ(d.at("box").size(), 4u);
    }
    const cv::Mat annotated = cv::imread(dir / ("ann/" + good[i]));
    EXPECT_EQ(annotated.size(), original.size()) << "the annotated copy of " << good[i];
  }

  std::set<std::string> expected = {"out/det.json", "in/truncated.jpg", "in/text.jpg"};
  for (const std::string& name : good) expected.insert({"in/" + name, "ann/" + name});
  EXPECT_EQ(files_under(dir), expected) << "no copies of bad inputs, no temporary files";
}

TEST(DetectPartialOutput, AFailedRunKeepsThePreviousJson) {
  REQUIRE_CHECKPOINT();
  TempDir dir;
  const std::string previous = R"([{"image": "earlier.jpg", "detections": []}])";
  write_file(dir / "det.json", previous);
  // The JSON file is opened first, then the weights fail to load.
  const RunResult failed = run_yolo4(
      {"detect", "--weights", "missing.pth", "--json", "det.json", sample_image("dog.jpg")}, dir);
  EXPECT_EQ(failed.exit_code, 1) << describe(failed);
  EXPECT_EQ(read_file(dir / "det.json"), previous);
  EXPECT_EQ(files_under(dir), std::set<std::string>{"det.json"});

  const RunResult done = run_yolo4({"detect", "--weights", random_checkpoint(), "--size", "64",
                                    "--json", "det.json", sample_image("dog.jpg")},
                                   dir);
  EXPECT_EQ(done.exit_code, 0) << describe(done);
  const nlohmann::json results = parse_json_file(dir / "det.json");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("image"), sample_image("dog.jpg"));
  EXPECT_EQ(files_under(dir), std::set<std::string>{"det.json"});
}

TEST(DetectPartialOutput, TheJsonNeverReplacesAnInput) {
  TempDir dir;
  fs::copy_file(sample_image("dog.jpg"), dir / "dog.jpg");
  const RunResult r =
      run_yolo4({"detect", "--weights", "missing.pth", "--json", "./dog.jpg", "dog.jpg"}, dir);
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("--json ./dog.jpg is one of the inputs"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dir / "dog.jpg"), read_file(sample_image("dog.jpg")));
  EXPECT_EQ(files_under(dir), std::set<std::string>{"dog.jpg"});
}

// The temporary JSON file of a detect run in `dir`, once it holds a result; "" if the process
// ended first or nothing came within the time limit.
std::string wait_for_partial_json(const TempDir& dir, pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& entry : fs::directory_iterator(dir.path())) {
      const std::string name = entry.path().filename().string();
      std::error_code ec;
      if (name.starts_with(".det.tmp") && fs::file_size(entry.path(), ec) > 0) return name;
    }
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return "";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return "";
}

TEST(DetectPartialOutput, AnInterruptedRunLeavesThePreviousJsonAndNoTemporaryFiles) {
  REQUIRE_CHECKPOINT();
  TempDir dir;
  const std::string previous = R"([{"image": "earlier.jpg", "detections": []}])";
  write_file(dir / "det.json", previous);
  std::vector<std::string> args = {yolo4_bin(), "detect", "--weights", random_checkpoint(),
                                   "--size",    "64",     "--quiet",   "--json",
                                   "det.json",  "--out",  "ann"};
  for (int i = 0; i < 500; ++i) args.push_back(sample_image("dog.jpg"));  // far more than needed
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    if (::chdir(dir.path().c_str()) == 0) ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  const std::string partial = wait_for_partial_json(dir, pid);
  ASSERT_FALSE(partial.empty()) << "the run ended, or wrote no result, before it could be stopped";
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM)
      << "ends as SIGTERM ends a process (status " << status << ")";

  EXPECT_EQ(read_file(dir / "det.json"), previous) << "the JSON of the stopped run replaced it";
  for (const std::string& file : files_under(dir)) {
    EXPECT_EQ(file.find(".tmp"), std::string::npos) << "left behind: " << file;
    if (file.starts_with("ann/")) {
      EXPECT_FALSE(cv::imread(dir / file).empty()) << "a partial annotated copy: " << file;
    }
  }
}

TEST(EvalPartialOutput, AFailedRunWritesNoResultsAndKeepsThePreviousStats) {
  TempDir dir;
  const std::string models = shared_data_dir() + "/models/yolo-fastest-1.1-xl";
  auto annotations = [](const std::string& images) {
    return R"({"images": [)" + images + R"(], "categories": [{"id": 18, "name": "dog"}],
      "annotations": [{"id": 1, "image_id": 1, "category_id": 18, "bbox": [130, 220, 180, 320],
                       "area": 57600}]})";
  };
  write_file(dir / "bad.json", annotations(R"({"id": 1, "file_name": "dog.jpg"},
                                              {"id": 2, "file_name": "missing.jpg"})"));
  write_file(dir / "good.json", annotations(R"({"id": 1, "file_name": "dog.jpg"})"));
  write_file(dir / "stats.json", "previous stats");  // and no res.json
  auto eval = [&](const std::string& annotations_file) {
    return run_yolo4(
        {"eval", "--annotations", annotations_file, "--images", shared_data_dir() + "/images",
         "--cfg", models + ".cfg", "--weights", models + ".weights", "--results", "res.json",
         "--stats", "stats.json", "--threads", "1", "--quiet"},
        dir);
  };
  const RunResult failed = eval("bad.json");
  EXPECT_EQ(failed.exit_code, 1) << describe(failed);
  EXPECT_NE(failed.err.find("missing.jpg"), std::string::npos) << failed.err;
  EXPECT_EQ(read_file(dir / "stats.json"), "previous stats");
  EXPECT_EQ(files_under(dir), (std::set<std::string>{"bad.json", "good.json", "stats.json"}))
      << "no results file, not even an empty one; no temporary files";

  const RunResult done = eval("good.json");
  ASSERT_EQ(done.exit_code, 0) << describe(done);
  const nlohmann::json results = parse_json_file(dir / "res.json");
  ASSERT_TRUE(results.is_array());
  EXPECT_FALSE(results.empty());
  EXPECT_TRUE(parse_json_file(dir / "stats.json").contains("stats"));
  EXPECT_EQ(files_under(dir),
            (std::set<std::string>{"bad.json", "good.json", "res.json", "stats.json"}));
}

}  // namespace
}  // namespace yolo4::app_test
