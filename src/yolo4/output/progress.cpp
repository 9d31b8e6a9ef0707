#include "yolo4/output/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace yolo4 {
namespace {

constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::string bar(int64_t done, int64_t total, int width) {
  if (total <= 0 || width <= 0) return "";
  const double fraction =
      std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
  const int filled = static_cast<int>(fraction * width);
  std::string text = "[";
  text.append(static_cast<size_t>(filled), '#');
  text.append(static_cast<size_t>(width - filled), '.');
  text += "]  ";
  return text;
}

// " ETA m:ss" (or h:mm:ss) when the rate allows an estimate.
std::string eta(int64_t done, int64_t total, double seconds) {
  if (total <= 0 || done <= 0 || done >= total || seconds <= 0) return "";
  const auto left = static_cast<int64_t>(
      seconds / static_cast<double>(done) * static_cast<double>(total - done) + 0.5);
  char text[32];
  if (left >= 3600) {
    std::snprintf(text, sizeof text, "  ETA %lld:%02lld:%02lld",
                  static_cast<long long>(left / 3600), static_cast<long long>(left / 60 % 60),
                  static_cast<long long>(left % 60));
  } else {
    std::snprintf(text, sizeof text, "  ETA %lld:%02lld", static_cast<long long>(left / 60),
                  static_cast<long long>(left % 60));
  }
  return text;
}

double rate(int64_t done, double seconds) {
  return seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
}

}  // namespace

bool stderr_is_terminal() {
  return isatty(STDERR_FILENO) == 1;
}

std::string format_count_progress(int64_t done, int64_t total, double seconds,
                                  std::string_view rate_unit, int bar_width) {
  char text[96];
  if (total > 0) {
    std::snprintf(text, sizeof text, "%lld/%lld  %.1f %.*s", static_cast<long long>(done),
                  static_cast<long long>(total), rate(done, seconds),
                  static_cast<int>(rate_unit.size()), rate_unit.data());
  } else {
    std::snprintf(text, sizeof text, "%lld  %.1f %.*s", static_cast<long long>(done),
                  rate(done, seconds), static_cast<int>(rate_unit.size()), rate_unit.data());
  }
  return bar(done, total, bar_width) + text + eta(done, total, seconds);
}

std::string format_byte_progress(int64_t done, int64_t total, double seconds, int bar_width) {
  constexpr double kMB = 1e6;
  char text[96];
  const double speed = rate(done, seconds) / kMB;
  if (total > 0) {
    std::snprintf(text, sizeof text, "%.1f/%.1f MB  %.1f%%  %.1f MB/s",
                  static_cast<double>(done) / kMB, static_cast<double>(total) / kMB,
                  100.0 * static_cast<double>(done) / static_cast<double>(total), speed);
  } else {
    std::snprintf(text, sizeof text, "%.1f MB  %.1f MB/s", static_cast<double>(done) / kMB, speed);
  }
  return bar(done, total, bar_width) + text + eta(done, total, seconds);
}

ProgressBar::ProgressBar(int64_t total, ProgressOptions options)
    : total_(total),
      options_(std::move(options)),
      enabled_(options_.mode == ProgressMode::kAlways ||
               (options_.mode == ProgressMode::kAuto && stderr_is_terminal())),
      start_(std::chrono::steady_clock::now()) {
  if (options_.out == nullptr) options_.out = &std::cerr;
}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::update(int64_t done) {
  done_ = done;
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  draw();
}

void ProgressBar::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  draw();
  *options_.out << '\n' << std::flush;
}

double ProgressBar::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::draw() {
  const std::string line =
      options_.bytes ? format_byte_progress(done_, total_, seconds())
                     : format_count_progress(done_, total_, seconds(), options_.rate_unit);
  // \r returns to the line start, ESC[K clears what a longer previous line left behind.
  *options_.out << '\r' << options_.label << (options_.label.empty() ? "" : " ") << line << "\x1b[K"
                << std::flush;
}

}  // namespace yolo4
