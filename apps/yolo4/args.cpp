#include "args.h"

#include <cstdio>
#include <sstream>

#include "yolo4/core/error.h"

namespace yolo4::cli {

ArgParser::ArgParser(std::string usage, std::string summary)
    : usage_(std::move(usage)), summary_(std::move(summary)) {}

void ArgParser::flag(const std::string& name, const std::string& help, bool* target) {
  options_.push_back({name, "", help, false, [target](const std::string&) { *target = true; }});
}

void ArgParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                       std::string* target) {
  options_.push_back({name, metavar, help, true, [target](const std::string& v) { *target = v; }});
}

void ArgParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                       int* target, int min, int max) {
  options_.push_back({name, metavar, help, true, [=](const std::string& v) {
                        size_t used = 0;
                        int value = 0;
                        try {
                          value = std::stoi(v, &used);
                        } catch (const std::exception&) {
                          used = 0;
                        }
                        YOLO4_CHECK(used == v.size() && !v.empty(), name, ": '", v,
                                    "' is not a whole number");
                        YOLO4_CHECK(value >= min && value <= max, name, ": ", value,
                                    " is out of range [", min, ", ", max, "]");
                        *target = value;
                      }});
}

void ArgParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                       float* target, float min, float max) {
  options_.push_back({name, metavar, help, true, [=](const std::string& v) {
                        size_t used = 0;
                        float value = 0;
                        try {
                          value = std::stof(v, &used);
                        } catch (const std::exception&) {
                          used = 0;
                        }
                        YOLO4_CHECK(used == v.size() && !v.empty(), name, ": '", v,
                                    "' is not a number");
                        YOLO4_CHECK(value >= min && value <= max, name, ": ", value,
                                    " is out of range [", min, ", ", max, "]");
                        *target = value;
                      }});
}

void ArgParser::positionals(const std::string& metavar, const std::string& help,
                            std::vector<std::string>* target) {
  positional_metavar_ = metavar;
  positional_help_ = help;
  positionals_ = target;
}

bool ArgParser::parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    if (arg.size() > 2 && arg.rfind("--", 0) == 0) {
      std::string value;
      bool inline_value = false;
      if (const size_t eq = arg.find('='); eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        inline_value = true;
      }
      const Option* match = nullptr;
      for (const Option& o : options_) {
        if (o.name == arg) match = &o;
      }
      YOLO4_CHECK(match, "unknown option '", arg, "' (see --help)");
      if (match->takes_value && !inline_value) {
        YOLO4_CHECK(i + 1 < argc, arg, " needs a value ", match->metavar);
        value = argv[++i];
      }
      YOLO4_CHECK(match->takes_value || !inline_value, arg, " takes no value");
      match->set(value);
      given_.push_back(arg);
      continue;
    }
    YOLO4_CHECK(positionals_ != nullptr && (arg == "-" || arg[0] != '-'), "unexpected argument '",
                arg, "' (see --help)");
    positionals_->push_back(arg);
  }
  return true;
}

bool ArgParser::given(const std::string& name) const {
  for (const std::string& g : given_) {
    if (g == name) return true;
  }
  return false;
}

std::string ArgParser::help() const {
  std::ostringstream out;
  out << "usage: " << usage_ << "\n\n" << summary_ << "\n\noptions:\n";
  for (const Option& o : options_) {
    std::string left = "  " + o.name + (o.metavar.empty() ? "" : " " + o.metavar);
    if (left.size() < 30)
      left.resize(30, ' ');
    else
      left += "\n" + std::string(30, ' ');
    out << left << o.help << "\n";
  }
  out << "  --help                      show this help\n";
  if (positionals_) out << "\n  " << positional_metavar_ << "  " << positional_help_ << "\n";
  return out.str();
}

}  // namespace yolo4::cli
