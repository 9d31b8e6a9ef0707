#include "yolo4/profile/svg.h"

#include <cstdio>
#include <fstream>

#include "yolo4/core/error.h"

namespace yolo4::profile {

namespace {

std::string num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  std::string s = buffer;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

std::string_view anchor_name(Anchor a) {
  switch (a) {
    case Anchor::kStart: return "start";
    case Anchor::kMiddle: return "middle";
    case Anchor::kEnd: return "end";
  }
  return "start";
}

std::string title_element(std::string_view tooltip) {
  std::string out = "<title>";
  out += xml_escape(tooltip);
  out += "</title>";
  return out;
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

double text_width(std::string_view text, double font_size) {
  // DejaVu Sans / Helvetica average advance, a little generous so estimates err on the wide side.
  return 0.6 * font_size * double(text.size());
}

Svg::Svg(double width, double height) : width_(width), height_(height) {}

namespace {

// Appends ` name="value"` (the value escaped).
void attribute(std::string& out, std::string_view name, std::string_view value) {
  out += ' ';
  out += name;
  out += "=\"";
  out += xml_escape(value);
  out += '"';
}

// Closes an element opened by the caller: with a tooltip as a <title> child, else as empty.
void close_element(std::string& out, std::string_view tag, std::string_view tooltip) {
  if (tooltip.empty()) {
    out += "/>\n";
    return;
  }
  out += '>';
  out += title_element(tooltip);
  out += "</";
  out += tag;
  out += ">\n";
}

}  // namespace

void Svg::rect(double x, double y, double w, double h, std::string_view fill,
               std::string_view tooltip) {
  body_ += "<rect";
  attribute(body_, "x", num(x));
  attribute(body_, "y", num(y));
  attribute(body_, "width", num(w));
  attribute(body_, "height", num(h));
  attribute(body_, "fill", fill);
  close_element(body_, "rect", tooltip);
}

void Svg::line(double x1, double y1, double x2, double y2, std::string_view stroke,
               double stroke_width, bool dashed) {
  body_ += "<line";
  attribute(body_, "x1", num(x1));
  attribute(body_, "y1", num(y1));
  attribute(body_, "x2", num(x2));
  attribute(body_, "y2", num(y2));
  attribute(body_, "stroke", stroke);
  attribute(body_, "stroke-width", num(stroke_width));
  if (dashed) attribute(body_, "stroke-dasharray", "4 3");
  body_ += "/>\n";
}

void Svg::circle(double cx, double cy, double r, std::string_view fill, std::string_view tooltip) {
  body_ += "<circle";
  attribute(body_, "cx", num(cx));
  attribute(body_, "cy", num(cy));
  attribute(body_, "r", num(r));
  attribute(body_, "fill", fill);
  close_element(body_, "circle", tooltip);
}

void Svg::text(double x, double y, std::string_view content, const TextStyle& s) {
  body_ += "<text";
  attribute(body_, "x", num(x));
  attribute(body_, "y", num(y));
  attribute(body_, "font-size", num(s.size));
  attribute(body_, "text-anchor", anchor_name(s.anchor));
  attribute(body_, "fill", s.fill);
  if (s.bold) attribute(body_, "font-weight", "bold");
  if (s.rotate != 0) {
    attribute(body_, "transform", "rotate(" + num(s.rotate) + " " + num(x) + " " + num(y) + ")");
  }
  body_ += '>';
  body_ += xml_escape(content);
  body_ += "</text>\n";
}

void Svg::comment(std::string_view content) {
  std::string safe(content);
  for (size_t p; (p = safe.find("--")) != std::string::npos;) safe.replace(p, 2, "- -");
  body_ += "<!-- ";
  body_ += safe;
  body_ += " -->\n";
}

std::string Svg::str() const {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
         "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width_) + "\" height=\"" +
         num(height_) + "\" viewBox=\"0 0 " + num(width_) + " " + num(height_) +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
         "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"white\"/>\n" +
         body_ + "</svg>\n";
}

void Svg::save(const std::string& path) const {
  std::ofstream out(path);
  YOLO4_CHECK(out, "cannot write '", path, "'");
  out << str();
  out.close();
  YOLO4_CHECK(out, "error writing '", path, "'");
}

}  // namespace yolo4::profile
