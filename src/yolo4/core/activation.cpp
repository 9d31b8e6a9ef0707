#include "yolo4/core/activation.h"

namespace yolo4 {

std::string_view to_string(Activation activation) {
  switch (activation) {
    case Activation::kNone:
      return "none";
    case Activation::kMish:
      return "mish";
    case Activation::kLeaky:
      return "leaky";
    case Activation::kMishApprox:
      return "mish_approx";
  }
  return "unknown";
}

}  // namespace yolo4
