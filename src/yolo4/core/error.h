// Errors are exceptions whose message names the input and what was expected.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace yolo4 {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

// Throws yolo4::Error with the parts streamed together: fail("conv2d: input ", name, " has C=", c).
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  throw Error(detail::concat(parts...));
}

}  // namespace yolo4

// Checks a condition that depends on user input; the message parts are only built on failure.
#define YOLO4_CHECK(cond, ...)              \
  do {                                      \
    if (!(cond)) ::yolo4::fail(__VA_ARGS__); \
  } while (0)
