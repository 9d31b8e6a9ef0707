#include "yolo4/model/options.h"

#include "yolo4/core/error.h"

namespace yolo4 {

ModelOptions ModelOptions::report_preset() {
  ModelOptions o;
  o.dtype = DataType::BFLOAT16;
  o.weights_dtype = DataType::BFLOAT8_B;
  o.math_fidelity = MathFidelity::LoFi;
  return o;
}

std::string ModelOptions::describe() const {
  return detail::concat(to_string(dtype), "/", to_string(weights_dtype), "/",
                        to_string(math_fidelity), math_approx_mode ? "/approx" : "",
                        winograd ? "/winograd" : "");
}

}  // namespace yolo4
