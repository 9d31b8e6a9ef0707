// A small SVG writer: shapes and text in user units, escaped, as one standalone document.
#pragma once

#include <string>
#include <string_view>

namespace yolo4::profile {

enum class Anchor { kStart, kMiddle, kEnd };

struct TextStyle {
  double size = 12;
  Anchor anchor = Anchor::kStart;
  bool bold = false;
  std::string fill = "#222";
  double rotate = 0;  // degrees, about the text's anchor point
};

class Svg {
 public:
  Svg(double width, double height);

  double width() const { return width_; }
  double height() const { return height_; }
  void set_height(double height) { height_ = height; }  // e.g. once stacked panels are drawn

  // `tooltip` becomes a <title> child (shown on hover by browsers).
  void rect(double x, double y, double w, double h, std::string_view fill,
            std::string_view tooltip = {});
  void line(double x1, double y1, double x2, double y2, std::string_view stroke,
            double stroke_width = 1, bool dashed = false);
  void circle(double cx, double cy, double r, std::string_view fill, std::string_view tooltip = {});
  void text(double x, double y, std::string_view content, const TextStyle& style = {});
  void comment(std::string_view content);

  std::string str() const;  // the whole document
  void save(const std::string& path) const;

 private:
  double width_, height_;
  std::string body_;
};

std::string xml_escape(std::string_view text);
// Width of `text` in the default sans-serif font, roughly: for deciding whether labels fit.
double text_width(std::string_view text, double font_size);

}  // namespace yolo4::profile
