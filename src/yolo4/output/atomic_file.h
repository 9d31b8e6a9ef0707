// Output files written whole or not at all: the content goes to a temporary file in the target's
// directory, which commit() renames over the target (rename is atomic within a file system). A
// run that fails or is killed before commit() leaves the previous file, or none, never a
// truncated one; the temporary file is removed unless the process dies by SIGKILL.
#pragma once

#include <string>
#include <string_view>

namespace yolo4 {

class AtomicFile {
 public:
  // Creates the temporary file (empty) next to `path`; throws yolo4::Error naming `path` when
  // its directory is not writable.
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // removes the temporary file unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& path() const { return path_; }
  // Where to write: a hidden name in the same directory ending in the target's extension (so
  // writers that choose a format by extension, such as video containers, see the right one).
  const std::string& temp_path() const { return temp_path_; }
  // Renames the temporary file to path(); throws yolo4::Error naming it on failure.
  void commit();

  // Removes every temporary file not yet committed; async-signal-safe, for signal handlers.
  static void remove_pending() noexcept;
  // SIGINT, SIGTERM and SIGHUP remove the temporary files, then end the process as the signal
  // would have.
  static void remove_pending_on_termination();

 private:
  std::string path_, temp_path_;
  int slot_ = -1;  // in the pending list; -1: not listed (too many, or too long a path)
  bool committed_ = false;
};

// `bytes` into `path`, atomically (AtomicFile); throws yolo4::Error naming `path`.
void write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace yolo4
