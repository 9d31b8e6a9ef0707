// The commands' flag parser: a thin facade over CLI11 that keeps every command's flag table a
// few declarative lines. Every option has a help line, numbers are range-checked, unknown flags
// are rejected, and every parse error is a yolo4::Error with one line naming the flag.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace yolo4::cli {

class ArgParser {
 public:
  ArgParser(std::string usage, std::string summary);
  ~ArgParser();
  ArgParser(const ArgParser&) = delete;
  ArgParser& operator=(const ArgParser&) = delete;

  void flag(const std::string& name, const std::string& help, bool* target);
  void option(const std::string& name, const std::string& metavar, const std::string& help,
              std::string* target);
  void option(const std::string& name, const std::string& metavar, const std::string& help,
              int* target, int min, int max);
  void option(const std::string& name, const std::string& metavar, const std::string& help,
              float* target, float min, float max);
  // The arguments that are not flags, listed in the help as "METAVAR ...".
  void positionals(const std::string& metavar, const std::string& help,
                   std::vector<std::string>* target);

  // Parses argv[first..argc). Returns false when --help was printed. Throws yolo4::Error on
  // unknown flags, missing or bad values.
  bool parse(int argc, char** argv, int first = 2);
  std::string help() const;
  bool given(const std::string& name) const;  // the option appeared on the command line

 private:
  std::unique_ptr<CLI::App> app_;
};

}  // namespace yolo4::cli
