// A one-line progress bar on stderr (images/s, FPS or download speed), silent unless stderr is a
// terminal, so that logs and pipes stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace yolo4 {

enum class ProgressMode {
  kAuto,    // draw only when stderr is a terminal
  kNever,   // --quiet
  kAlways,  // tests, or a caller that knows better
};

bool stderr_is_terminal();

// "[##########..........]  50/100  12.5 images/s  ETA 0:04"; total <= 0 means unknown.
std::string format_count_progress(int64_t done, int64_t total, double seconds,
                                  std::string_view rate_unit, int bar_width = 24);

// "[#####...............]  64.0/257.7 MB  24.8%  5.3 MB/s  ETA 0:36".
std::string format_byte_progress(int64_t done, int64_t total, double seconds, int bar_width = 24);

struct ProgressOptions {
  std::string label;                   // printed before the bar, e.g. "yolov4.weights"
  std::string rate_unit = "images/s";  // "FPS" for video; ignored for bytes
  bool bytes = false;                  // sizes and MB/s instead of counts
  ProgressMode mode = ProgressMode::kAuto;
  std::ostream* out = nullptr;  // nullptr: std::cerr
};

class ProgressBar {
 public:
  ProgressBar(int64_t total, ProgressOptions options = {});
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar();  // finish()

  bool enabled() const { return enabled_; }
  void advance(int64_t count = 1) { update(done_ + count); }
  // Redraws at most 10 times a second, so a fast loop is not slowed down by the terminal.
  void update(int64_t done);
  void set_total(int64_t total) { total_ = total; }
  // Draws the final state and ends the line; idempotent.
  void finish();

 private:
  void draw();
  double seconds() const;

  int64_t total_;
  int64_t done_ = 0;
  ProgressOptions options_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace yolo4
