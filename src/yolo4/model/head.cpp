#include "yolo4/model/head.h"

#include <string>

#include "yolo4/ops/layout.h"

namespace yolo4 {

Head::Head(const Yolov4Weights& w, const ModelOptions& o) {
  for (int i = 1; i <= 18; ++i) convs_.emplace_back(w, "head.conv" + std::to_string(i), o);
}

std::array<Tensor, 3> Head::operator()(Device& device, const Tensor& input1, const Tensor& input2,
                                       const Tensor& input3) const {
  Tensor x2 = run_convs(device, convs_, input1, 1, 2);
  Tensor x8 =
      run_convs(device, convs_, conv_beside(device, conv(3), input1, input2, "head.cat1"), 4, 8);
  Tensor x10 = run_convs(device, convs_, x8, 9, 10);
  Tensor cat2 = conv_beside(device, conv(11), x8, input3, "head.cat2");
  deallocate(x8);
  Tensor x18 = run_convs(device, convs_, std::move(cat2), 12, 18);
  return {x2, x10, x18};
}

}  // namespace yolo4
