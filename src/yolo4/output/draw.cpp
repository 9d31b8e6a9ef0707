#include "yolo4/output/draw.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>
#include <string>

#include "yolo4/core/error.h"

namespace yolo4 {
namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;

// HSV (all in [0, 1]) to a BGR scalar in [0, 255].
cv::Scalar hsv_to_bgr(double h, double s, double v) {
  const double sector = h * 6.0;
  const int i = static_cast<int>(sector) % 6;
  const double f = sector - std::floor(sector);
  const double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  double r = v, g = t, b = p;
  switch (i) {
    case 1:
      r = q, g = v, b = p;
      break;
    case 2:
      r = p, g = v, b = t;
      break;
    case 3:
      r = p, g = q, b = v;
      break;
    case 4:
      r = t, g = p, b = v;
      break;
    case 5:
      r = v, g = p, b = q;
      break;
  }
  return {std::round(b * 255), std::round(g * 255), std::round(r * 255)};
}

// Black text on light colours, white on dark ones (ITU-R BT.601 luma).
cv::Scalar text_color(const cv::Scalar& background) {
  const double luma = 0.114 * background[0] + 0.587 * background[1] + 0.299 * background[2];
  return luma > 140 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
}

std::string label_text(const Detection& d, std::span<const std::string_view> names,
                       bool show_score) {
  std::string label = class_name(names, d.class_id);
  if (show_score) {
    char score[16];
    std::snprintf(score, sizeof score, " %.2f", static_cast<double>(d.score));
    label += score;
  }
  return label;
}

// The label sits on a filled background above the box, or inside it at the image's top edge.
void draw_label(cv::Mat& image, const cv::Rect& box, const std::string& text,
                const cv::Scalar& color, double font_scale) {
  const int font_thickness = std::max(1, static_cast<int>(std::lround(font_scale * 1.5)));
  int baseline = 0;
  const cv::Size size = cv::getTextSize(text, kFont, font_scale, font_thickness, &baseline);
  const int height = size.height + baseline + 2;
  int top = box.y - height;
  if (top < 0) top = box.y;
  const int left = std::clamp(box.x, 0, std::max(0, image.cols - size.width - 2));
  const cv::Rect background(left, top, size.width + 2, height);
  cv::rectangle(image, background, color, cv::FILLED);
  cv::putText(image, text, {left + 1, top + size.height + 1}, kFont, font_scale, text_color(color),
              font_thickness, cv::LINE_AA);
}

}  // namespace

cv::Scalar class_color(int class_id) {
  constexpr double kGoldenRatio = 0.6180339887498949;
  const double hue = std::fmod(0.1 + kGoldenRatio * std::fabs(static_cast<double>(class_id)), 1.0);
  return hsv_to_bgr(hue, 0.75, 0.95);
}

void draw_detections(cv::Mat& image, std::span<const Detection> detections,
                     std::span<const std::string_view> names, const DrawOptions& options) {
  YOLO4_CHECK(!image.empty() && image.type() == CV_8UC3,
              "draw_detections: expected a non-empty 8-bit BGR image, got ",
              image.empty() ? "an empty one" : cv::typeToString(image.type()));
  // Readable on a phone photo and on a thumbnail alike.
  const int shorter = std::min(image.cols, image.rows);
  const int thickness = options.thickness > 0
                            ? options.thickness
                            : std::max(1, static_cast<int>(std::lround(shorter / 250.0)));
  const double font_scale =
      options.font_scale > 0 ? options.font_scale : std::clamp(shorter / 1000.0, 0.35, 1.5);
  for (const Detection& d : detections) {
    if (!(std::isfinite(d.x1) && std::isfinite(d.y1) && std::isfinite(d.x2) &&
          std::isfinite(d.y2))) {
      continue;  // nothing sensible to draw
    }
    const cv::Point top_left(static_cast<int>(std::lround(d.x1)),
                             static_cast<int>(std::lround(d.y1)));
    const cv::Point bottom_right(static_cast<int>(std::lround(d.x2)),
                                 static_cast<int>(std::lround(d.y2)));
    const cv::Rect box(top_left, bottom_right);
    const cv::Scalar color = class_color(d.class_id);
    cv::rectangle(image, box, color, thickness, cv::LINE_8);  // axis-aligned: crisp edges
    draw_label(image, box, label_text(d, names, options.show_score), color, font_scale);
  }
}

}  // namespace yolo4
