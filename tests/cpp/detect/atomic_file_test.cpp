// Output files written whole or not at all (output/atomic_file.h).
#include "yolo4/output/atomic_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "detect/detect_test_util.h"
#include "yolo4/core/error.h"

namespace yolo4 {
namespace {

namespace fs = std::filesystem;

// Every name in `dir`, hidden ones included.
std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(AtomicFile, TheTargetChangesOnlyOnCommit) {
  const test::TempDir dir;
  const std::string target = dir.file("det.json");
  test::write_bytes(target, "previous");
  {
    AtomicFile file(target);
    EXPECT_EQ(fs::path(file.temp_path()).parent_path(), fs::path(target).parent_path());
    EXPECT_EQ(fs::path(file.temp_path()).extension(), ".json") << file.temp_path();
    EXPECT_EQ(fs::path(file.temp_path()).filename().string()[0], '.') << file.temp_path();
    test::write_bytes(file.temp_path(), "[1, 2");
    EXPECT_EQ(test::read_bytes(target), "previous") << "written before commit";
    test::write_bytes(file.temp_path(), "[1, 2, 3]\n");
    file.commit();
    EXPECT_EQ(test::read_bytes(target), "[1, 2, 3]\n");
    EXPECT_THROW(file.commit(), Error);
  }
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"det.json"});
}

TEST(AtomicFile, AnUncommittedFileIsRemovedAndTheTargetKept) {
  const test::TempDir dir;
  const std::string target = dir.file("clip.mp4");
  test::write_bytes(target, "previous");
  std::string temp;
  {
    AtomicFile file(target);
    temp = file.temp_path();
    test::write_bytes(temp, "half a video");
    EXPECT_EQ(names_in(dir.path()).size(), 2u);
  }
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_EQ(test::read_bytes(target), "previous");
  {
    AtomicFile absent(dir.file("new.avi"));  // no previous file: none after a failure either
  }
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"clip.mp4"});
}

TEST(AtomicFile, TwoWritersOfOneTargetGetTheirOwnTemporaryFiles) {
  const test::TempDir dir;
  AtomicFile first(dir.file("a.jpg")), second(dir.file("a.jpg"));
  EXPECT_NE(first.temp_path(), second.temp_path());
  test::write_bytes(first.temp_path(), "first");
  test::write_bytes(second.temp_path(), "second");
  first.commit();
  second.commit();
  EXPECT_EQ(test::read_bytes(dir.file("a.jpg")), "second");
}

TEST(AtomicFile, ErrorsNameTheTarget) {
  const test::TempDir dir;
  try {
    AtomicFile file(dir.file("no/such/dir/out.json"));
    FAIL() << "created a file in a missing directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out.json: cannot create a file in"), std::string::npos)
        << e.what();
  }
  fs::create_directory(dir.file("taken"));
  AtomicFile onto_directory(dir.file("taken"));
  try {
    onto_directory.commit();
    FAIL() << "renamed a file over a directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("taken: cannot write it"), std::string::npos) << e.what();
  }
}

TEST(AtomicFile, WriteFileAtomically) {
  const test::TempDir dir;
  write_file_atomically(dir.file("stats.json"), "{\"AP\": 0.5}\n");
  EXPECT_EQ(test::read_bytes(dir.file("stats.json")), "{\"AP\": 0.5}\n");
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"stats.json"});
  EXPECT_THROW(write_file_atomically(dir.file("missing/stats.json"), "x"), Error);
}

TEST(AtomicFile, RemovePendingRemovesTheTemporaryFilesOfASignal) {
  const test::TempDir dir;
  AtomicFile file(dir.file("det.json"));
  test::write_bytes(file.temp_path(), "[");
  AtomicFile::remove_pending();  // what the signal handler does before the process ends
  EXPECT_TRUE(names_in(dir.path()).empty());
}

// A writer stopped by SIGTERM at any moment leaves no temporary file. It is stopped mostly inside
// system calls (it spends its time there), where the signal is handled as the call returns: right
// after open() creates the temporary file, before anything else runs.
TEST(AtomicFile, AWriterStoppedAtAnyMomentLeavesNoTemporaryFile) {
  const test::TempDir dir;
  const std::string target = dir.file("ann.jpg");
  const std::string bytes(4096, 'x');
  for (int round = 0; round < 200; ++round) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      AtomicFile::remove_pending_on_termination();
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      while (std::chrono::steady_clock::now() < deadline) write_file_atomically(target, bytes);
      ::_exit(0);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(300 + 97 * round % 1500));
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << "status " << status;
    for (const std::string& name : names_in(dir.path())) {
      ASSERT_EQ(name, "ann.jpg") << "left behind after round " << round;
    }
  }
}

}  // namespace
}  // namespace yolo4
