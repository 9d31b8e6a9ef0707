#include "args.h"

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>

#include "yolo4/core/error.h"

namespace yolo4::cli {

namespace {

// The help page: usage, summary, then one line per option (CLI11's layout, a 30-column name).
class HelpFormatter : public CLI::Formatter {
 public:
  explicit HelpFormatter(std::string usage) : usage_(std::move(usage)) { column_width(30); }

  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode mode) const override {
    return "usage: " + usage_ + "\n\n" + app->get_description() + "\n" + make_groups(app, mode) +
           make_positionals(app);
  }

 private:
  std::string usage_;
};

// A whole decimal number or a float, all of `text`, within [min, max]; the message names the flag.
template <typename T>
T parse_number(const std::string& flag, const std::string& text, T min, T max) {
  T value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  YOLO4_CHECK(ec == std::errc() && ptr == end && !text.empty(), flag, ": '", text, "' is not ",
              std::is_integral_v<T> ? "a whole number" : "a number");
  YOLO4_CHECK(value >= min && value <= max, flag, ": ", value, " is out of range [", min, ", ", max,
              "]");
  return value;
}

template <typename T>
void add_number(CLI::App& app, const std::string& name, const std::string& metavar,
                const std::string& help, T* target, T min, T max) {
  // Parsed here rather than by CLI11, which reads "010" as octal and has its own messages.
  app.add_option_function<std::string>(
         name, [=](const std::string& text) { *target = parse_number(name, text, min, max); }, help)
      ->type_name(metavar);
}

}  // namespace

ArgParser::ArgParser(std::string usage, std::string summary)
    : app_(std::make_unique<CLI::App>(std::move(summary))) {
  app_->formatter(std::make_shared<HelpFormatter>(std::move(usage)));
  app_->set_help_flag("-h,--help", "show this help");
  // A flag given twice: the last one counts. Unknown arguments are collected and reported by
  // parse() in the commands' own words.
  app_->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app_->allow_extras();
}

ArgParser::~ArgParser() = default;

void ArgParser::flag(const std::string& name, const std::string& help, bool* target) {
  app_->add_flag(name, *target, help);
}

void ArgParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                       std::string* target) {
  app_->add_option(name, *target, help)->type_name(metavar);
}

void ArgParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                       int* target, int min, int max) {
  add_number(*app_, name, metavar, help, target, min, max);
}

void ArgParser::option(const std::string& name, const std::string& metavar, const std::string& help,
                       float* target, float min, float max) {
  add_number(*app_, name, metavar, help, target, min, max);
}

void ArgParser::positionals(const std::string& metavar, const std::string& help,
                            std::vector<std::string>* target) {
  app_->add_option(metavar, *target, help)->type_name("");
}

bool ArgParser::parse(int argc, char** argv, int first) {
  std::vector<std::string> args;  // last first, as CLI11 takes them
  for (int i = argc - 1; i >= first; --i) {
    // "--json=" is an empty value: CLI11 would take the next argument instead (e.g. an input,
    // which the JSON would then overwrite).
    const std::string arg = argv[i];
    const CLI::Option* option = arg.starts_with("--") && arg.ends_with('=')
                                    ? app_->get_option_no_throw(arg.substr(0, arg.size() - 1))
                                    : nullptr;
    if (option != nullptr) {
      YOLO4_CHECK(option->get_expected_max() > 0, arg.substr(0, arg.size() - 1), " takes no value");
      args.insert(args.end(), {"", arg.substr(0, arg.size() - 1)});
    } else {
      args.push_back(arg);
    }
  }
  try {
    app_->parse(args);
  } catch (const CLI::CallForHelp&) {
    std::fputs(help().c_str(), stdout);
    return false;
  } catch (const CLI::ParseError& e) {
    fail(e.what(), " (see --help)");
  }
  for (const std::string& arg : app_->remaining()) {
    YOLO4_CHECK(arg.size() < 2 || arg[0] != '-', "unknown option '", arg.substr(0, arg.find('=')),
                "' (see --help)");
    fail("unexpected argument '", arg, "' (see --help)");
  }
  return true;
}

bool ArgParser::given(const std::string& name) const {
  return app_->count(name) > 0;
}

std::string ArgParser::help() const {
  return app_->help();
}

}  // namespace yolo4::cli
