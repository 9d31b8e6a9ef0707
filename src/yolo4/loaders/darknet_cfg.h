// Darknet network .cfg files: INI-like sections ([net], [convolutional], [yolo], ...).
#pragma once

#include <istream>
#include <map>
#include <string>
#include <vector>

namespace yolo4 {

struct CfgSection {
  std::string type;  // e.g. "net", "convolutional", "yolo"
  int line = 0;      // 1-based line of the [type] header
  std::map<std::string, std::string> values;
};

struct DarknetCfg {
  std::string path;
  std::vector<CfgSection> sections;
};

// Parses `path`. Comments (# or ;) and blank lines are ignored, keys and values trimmed. Lines
// outside a section, lines without '=', and keys repeated in a section fail naming path:line.
DarknetCfg parse_darknet_cfg(const std::string& path);
// The same from a stream or a string; `name` stands for the path in messages.
DarknetCfg parse_darknet_cfg(std::istream& in, const std::string& name);
DarknetCfg parse_darknet_cfg_text(const std::string& text, const std::string& name);

// Typed look-ups returning `fallback` when the key is absent; a value that does not parse fails
// naming the section, its line and the key.
int cfg_int(const CfgSection& s, const std::string& key, int fallback);
float cfg_float(const CfgSection& s, const std::string& key, float fallback);
std::string cfg_string(const CfgSection& s, const std::string& key, const std::string& fallback);
// A comma-separated list ("12,16, 19,36"); empty when the key is absent.
std::vector<float> cfg_floats(const CfgSection& s, const std::string& key);

}  // namespace yolo4
