#include "yolo4/output/json_output.h"

#include <charconv>
#include <cmath>

namespace yolo4 {
namespace {

// Length of the valid UTF-8 sequence starting at text[i], or 0 when it is invalid (overlong
// forms, surrogates and code points above U+10FFFF included).
size_t utf8_sequence_length(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  size_t length = 0;
  unsigned char min_second = 0x80, max_second = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) min_second = 0xA0;  // overlong
    if (lead == 0xED) max_second = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) min_second = 0x90;  // overlong
    if (lead == 0xF4) max_second = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < min_second || byte(i + 1) > max_second) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

void append_escaped_ascii(std::string& out, unsigned char c) {
  switch (c) {
    case '"':
      out += "\\\"";
      return;
    case '\\':
      out += "\\\\";
      return;
    case '\b':
      out += "\\b";
      return;
    case '\f':
      out += "\\f";
      return;
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
  }
  if (c < 0x20) {
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\u00";
    out += kHex[c >> 4];
    out += kHex[c & 15];
    return;
  }
  out += static_cast<char>(c);
}

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
  std::string out = "\"";
  out.reserve(text.size() + 2);
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      append_escaped_ascii(out, c);
      ++i;
    } else if (size_t length = utf8_sequence_length(text, i)) {
      out.append(text, i, length);
      i += length;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
  return out;
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
