#include "yolo4/loaders/darknet_cfg.h"

#include <charconv>
#include <fstream>
#include <sstream>
#include <string_view>
#include <type_traits>

#include "yolo4/core/error.h"

namespace yolo4 {
namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

// Parses all of `text` as a T (from_chars: locale-independent, no partial matches).
template <class T>
T parse_number(const CfgSection& s, const std::string& key, std::string_view text) {
  const std::string_view value = trim(text);
  T result{};
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), result);
  YOLO4_CHECK(error == std::errc() && end == value.data() + value.size() && !value.empty(), "cfg [",
              s.type, "] at line ", s.line, ": ", key, "='", text, "' is not a valid ",
              std::is_integral_v<T> ? "integer" : "number");
  return result;
}

float parse_float(const CfgSection& s, const std::string& key, std::string_view text) {
  // from_chars rejects the ".1" style darknet cfgs use (hue=.1), so put the zero in.
  std::string number(trim(text));
  if (number.starts_with('.')) number = "0" + number;
  if (number.starts_with("-.")) number = "-0" + number.substr(1);
  return parse_number<float>(s, key, number);
}

}  // namespace

DarknetCfg parse_darknet_cfg(const std::string& path) {
  std::ifstream in(path);
  YOLO4_CHECK(in, path, ": cannot open cfg file");
  return parse_darknet_cfg(in, path);
}

DarknetCfg parse_darknet_cfg_text(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  return parse_darknet_cfg(in, name);
}

DarknetCfg parse_darknet_cfg(std::istream& in, const std::string& path) {
  DarknetCfg cfg{path, {}};
  std::string raw;
  for (int line = 1; std::getline(in, raw); ++line) {
    const std::string_view text = trim(raw);
    if (text.empty() || text.front() == '#' || text.front() == ';') continue;
    if (text.front() == '[') {
      YOLO4_CHECK(text.back() == ']' && text.size() > 2, path, ":", line,
                  ": expected a section header like [convolutional], found '", text, "'");
      cfg.sections.push_back({std::string(trim(text.substr(1, text.size() - 2))), line, {}});
      continue;
    }
    const auto equals = text.find('=');
    YOLO4_CHECK(equals != std::string_view::npos, path, ":", line, ": expected key=value, found '",
                text, "'");
    YOLO4_CHECK(!cfg.sections.empty(), path, ":", line, ": key=value before the first [section]");
    const std::string key(trim(text.substr(0, equals)));
    YOLO4_CHECK(!key.empty(), path, ":", line, ": empty key in '", text, "'");
    auto& section = cfg.sections.back();
    const bool added = section.values.emplace(key, trim(text.substr(equals + 1))).second;
    YOLO4_CHECK(added, path, ":", line, ": key '", key, "' repeated in [", section.type,
                "] of line ", section.line);
  }
  YOLO4_CHECK(!in.bad(), path, ": read failed");
  return cfg;
}

int cfg_int(const CfgSection& s, const std::string& key, int fallback) {
  const auto it = s.values.find(key);
  return it == s.values.end() ? fallback : parse_number<int>(s, key, it->second);
}

float cfg_float(const CfgSection& s, const std::string& key, float fallback) {
  const auto it = s.values.find(key);
  return it == s.values.end() ? fallback : parse_float(s, key, it->second);
}

std::string cfg_string(const CfgSection& s, const std::string& key, const std::string& fallback) {
  const auto it = s.values.find(key);
  return it == s.values.end() ? fallback : it->second;
}

std::vector<float> cfg_floats(const CfgSection& s, const std::string& key) {
  std::vector<float> values;
  const auto it = s.values.find(key);
  if (it == s.values.end()) return values;
  std::string_view rest = it->second;
  for (;;) {
    const auto comma = rest.find(',');
    values.push_back(parse_float(s, key, rest.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return values;
}

}  // namespace yolo4
