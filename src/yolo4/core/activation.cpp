#include "yolo4/core/activation.h"

#include "yolo4/core/error.h"

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
    case Activation::kLogistic:
      return "logistic";
    case Activation::kRelu:
      return "relu";
    case Activation::kSwish:
      return "swish";
  }
  return "unknown";
}

Activation parse_darknet_activation(std::string_view name) {
  struct Named {
    std::string_view name;
    Activation activation;
  };
  static constexpr Named kDarknet[] = {
      {"linear", Activation::kNone}, {"leaky", Activation::kLeaky},
      {"mish", Activation::kMish},   {"logistic", Activation::kLogistic},
      {"relu", Activation::kRelu},   {"swish", Activation::kSwish},
  };
  for (const Named& n : kDarknet) {
    if (n.name == name) return n.activation;
  }
  fail("unsupported darknet activation '", name,
       "': expected one of linear, leaky, mish, logistic, relu, swish");
}

}  // namespace yolo4
