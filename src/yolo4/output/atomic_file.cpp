#include "yolo4/output/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "yolo4/core/error.h"

namespace yolo4 {
namespace {

namespace fs = std::filesystem;

// The temporary files a signal handler removes: fixed slots, since a handler may neither
// allocate nor take locks. `ready` is set once `path` is written and cleared before the slot is
// reused, so a handler reads either a whole path or none.
struct PendingSlot {
  std::atomic<bool> claimed{false};
  std::atomic<bool> ready{false};
  char path[PATH_MAX];
};
std::array<PendingSlot, 16> g_pending;

int list_pending(const std::string& path) {
  if (path.size() >= PATH_MAX) return -1;
  for (size_t i = 0; i < g_pending.size(); ++i) {
    bool expected = false;
    if (!g_pending[i].claimed.compare_exchange_strong(expected, true)) continue;
    std::memcpy(g_pending[i].path, path.c_str(), path.size() + 1);
    g_pending[i].ready.store(true, std::memory_order_release);
    return int(i);
  }
  return -1;
}

void unlist_pending(int slot) {
  if (slot < 0) return;
  g_pending[size_t(slot)].ready.store(false, std::memory_order_release);
  g_pending[size_t(slot)].claimed.store(false, std::memory_order_release);
}

void remove_pending_and_reraise(int signal_number) {
  AtomicFile::remove_pending();
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

// A name no other writer uses: this process's id and a counter.
std::string temp_name(const fs::path& target) {
  static std::atomic<unsigned> counter{0};
  const std::string name = detail::concat(".", target.stem().string(), ".tmp", getpid(), "-",
                                          counter++, target.extension().string());
  return (target.parent_path() / name).string();
}

}  // namespace

// The name is listed before the file is created: a signal in between finds a name whose file is
// not there yet (unlinking it is harmless), never a file that is not listed. A signal arriving
// during open() is handled as it returns, so listing after it would leave such a file behind.
AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  YOLO4_CHECK(!path_.empty(), "an output file needs a name");
  const fs::path target(path_);
  for (int attempt = 0;; ++attempt) {
    temp_path_ = temp_name(target);
    slot_ = list_pending(temp_path_);
    const int fd = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      ::close(fd);
      return;
    }
    const int error = errno;
    unlist_pending(slot_);
    slot_ = -1;
    YOLO4_CHECK(error == EEXIST && attempt < 100, path_, ": cannot create a file in ",
                target.has_parent_path() ? target.parent_path().string() : std::string("."), " (",
                std::strerror(error), ")");
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) ::unlink(temp_path_.c_str());
  unlist_pending(slot_);
}

void AtomicFile::commit() {
  YOLO4_CHECK(!committed_, path_, ": already written");
  // No fsync: this guards against the process dying, not the machine, and a thousand annotated
  // images should not wait for the disk one by one.
  YOLO4_CHECK(::rename(temp_path_.c_str(), path_.c_str()) == 0, path_, ": cannot write it (",
              std::strerror(errno), ")");
  committed_ = true;
}

void AtomicFile::remove_pending() noexcept {
  for (PendingSlot& slot : g_pending) {
    if (slot.ready.load(std::memory_order_acquire)) ::unlink(slot.path);
  }
}

void AtomicFile::remove_pending_on_termination() {
  for (const int signal_number : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction current {};
    ::sigaction(signal_number, nullptr, &current);
    if (current.sa_handler == SIG_IGN) continue;  // e.g. under nohup: stays ignored
    struct sigaction action {};
    action.sa_handler = remove_pending_and_reraise;
    sigemptyset(&action.sa_mask);
    ::sigaction(signal_number, &action, nullptr);
  }
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  AtomicFile file(path);
  {
    std::ofstream out(file.temp_path(), std::ios::binary | std::ios::trunc);
    errno = 0;
    out.write(bytes.data(), std::streamsize(bytes.size()));
    out.close();
    YOLO4_CHECK(out, path, ": cannot write it",
                errno ? std::string(" (") + std::strerror(errno) + ")" : std::string());
  }
  file.commit();
}

}  // namespace yolo4
