#include "yolo4/output/json_output.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace yolo4 {
namespace {

void append_detection(std::string& out, const Detection& d,
                      std::span<const std::string_view> names) {
  out += "{\"class_id\": " + std::to_string(d.class_id);
  out += ", \"class\": " + json_string(class_name(names, d.class_id));
  out += ", \"score\": " + json_number(d.score, 5);
  out += ", \"box\": [" + json_number(d.x1, 2) + ", " + json_number(d.y1, 2) + ", " +
         json_number(d.x2, 2) + ", " + json_number(d.y2, 2) + "]}";
}

}  // namespace

std::string json_string(std::string_view text) {
  // nlohmann escapes quotes, backslashes and control characters and replaces invalid UTF-8
  // (in ensure_ascii=false mode, with the raw U+FFFD); the replacements are then spelled \ufffd
  // so that they stand out. Valid UTF-8 (U+FFFD included) is one byte sequence, so EF BF BD
  // can only be a whole U+FFFD.
  std::string quoted =
      nlohmann::json(std::string(text))
          .dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  for (size_t at = 0; (at = quoted.find(kReplacement, at)) != std::string::npos; at += 6) {
    quoted.replace(at, kReplacement.size(), "\\ufffd");
  }
  return quoted;
}

std::string json_number(float value, int decimals) {
  if (!std::isfinite(value)) return "null";
  // Values that round to zero would print as "-0.00".
  if (std::fabs(value) < 0.5f * std::pow(10.0f, -static_cast<float>(decimals))) value = 0.0f;
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, decimals);
  return std::string(buffer, result.ptr);
}

std::string to_json(const ImageResult& result, std::span<const std::string_view> names) {
  std::string out = "{\"image\": " + json_string(result.image);
  if (result.frame) out += ", \"frame\": " + std::to_string(*result.frame);
  out += ", \"width\": " + std::to_string(result.width);
  out += ", \"height\": " + std::to_string(result.height);
  out += ", \"detections\": [";
  for (size_t i = 0; i < result.detections.size(); ++i) {
    out += i == 0 ? "\n    " : ",\n    ";
    append_detection(out, result.detections[i], names);
  }
  out += result.detections.empty() ? "]}" : "\n  ]}";
  return out;
}

JsonListWriter::JsonListWriter(std::ostream& out, std::span<const std::string_view> names)
    : out_(out), names_(names) {}

JsonListWriter::~JsonListWriter() {
  try {
    close();
  } catch (...) {
    // A destructor must not throw; the stream's own state reports the failure.
  }
}

void JsonListWriter::write(const ImageResult& result) {
  out_ << (written_ == 0 ? "[\n  " : ",\n  ") << to_json(result, names_);
  ++written_;
  out_.flush();  // a consumer reading a long video's output sees each frame as it is done
}

void JsonListWriter::close() {
  if (closed_) return;
  closed_ = true;
  out_ << (written_ == 0 ? "[]\n" : "\n]\n");
  out_.flush();
}

void write_json(std::ostream& out, std::span<const ImageResult> results,
                std::span<const std::string_view> names) {
  JsonListWriter writer(out, names);
  for (const ImageResult& result : results) writer.write(result);
  writer.close();
}

}  // namespace yolo4
