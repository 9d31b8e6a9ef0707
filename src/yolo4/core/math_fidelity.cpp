#include "yolo4/core/math_fidelity.h"

#include <cctype>
#include <string>

#include "yolo4/core/error.h"

namespace yolo4 {

std::string_view to_string(MathFidelity fidelity) {
  return fidelity == MathFidelity::LoFi ? "LoFi" : "HiFi4";
}

MathFidelity parse_math_fidelity(std::string_view name) {
  std::string lower(name);
  for (char& ch : lower) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "lofi") return MathFidelity::LoFi;
  if (lower == "hifi4") return MathFidelity::HiFi4;
  fail("unknown math fidelity '", name, "': expected lofi or hifi4");
}

}  // namespace yolo4
