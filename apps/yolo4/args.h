// A small declarative command-line parser: every option has a help line, values are checked,
// unknown flags are rejected.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace yolo4::cli {

class ArgParser {
 public:
  ArgParser(std::string usage, std::string summary);

  void flag(const std::string& name, const std::string& help, bool* target);
  void option(const std::string& name, const std::string& metavar, const std::string& help,
              std::string* target);
  void option(const std::string& name, const std::string& metavar, const std::string& help,
              int* target, int min, int max);
  void option(const std::string& name, const std::string& metavar, const std::string& help,
              float* target, float min, float max);
  void positionals(const std::string& metavar, const std::string& help,
                   std::vector<std::string>* target);

  // Parses argv[first..argc). Returns false when --help was printed. Throws yolo4::Error on
  // unknown flags, missing or bad values.
  bool parse(int argc, char** argv, int first = 2);
  std::string help() const;
  bool given(const std::string& name) const;  // the option appeared on the command line

 private:
  struct Option {
    std::string name, metavar, help;
    bool takes_value;
    std::function<void(const std::string&)> set;
  };
  std::string usage_, summary_;
  std::vector<Option> options_;
  std::vector<std::string> given_;
  std::string positional_metavar_, positional_help_;
  std::vector<std::string>* positionals_ = nullptr;
};

}  // namespace yolo4::cli
