#include "yolo4/model/options.h"

#include "yolo4/core/error.h"

namespace yolo4 {

ModelOptions ModelOptions::preset(std::string_view name) {
  ModelOptions o;
  if (name == "fp32") return o;
  YOLO4_CHECK(name == "bf16" || name == "report" || name == "fast", "unknown preset '", name,
              "': expected fp32, bf16, report or fast");
  o.dtype = DataType::BFLOAT16;
  o.weights_dtype = name == "bf16" ? DataType::BFLOAT16 : DataType::BFLOAT8_B;
  o.math_fidelity = MathFidelity::LoFi;
  o.winograd = name != "report";
  return o;
}

std::string ModelOptions::describe() const {
  return detail::concat(to_string(dtype), "/", to_string(weights_dtype), "/",
                        to_string(math_fidelity), math_approx_mode ? "/approx" : "",
                        winograd ? "/winograd" : "");
}

}  // namespace yolo4
