#include "yolo4/model/head.h"

#include <string>

#include "yolo4/ops/layout.h"

namespace yolo4 {

Head::Head(const Yolov4Weights& w, const ModelOptions& o) {
  for (int i = 1; i <= 18; ++i) convs_.emplace_back(w, "head.conv" + std::to_string(i), o);
}

std::array<Tensor, 3> Head::operator()(Device& device, const Tensor& input1, const Tensor& input2,
                                       const Tensor& input3) const {
  Tensor x1 = conv(1)(device, input1);
  Tensor x2 = conv(2)(device, x1);
  deallocate(x1);

  // torch.cat([conv3(input1), input2])
  const int c3 = conv(3).conv().params().out_channels;
  Tensor cat1 = allocate_concat(device, input2.shape(), c3 + input2.shape().c, input2.dtype());
  conv(3).into(device, input1, cat1.channel_slice(0, c3));
  scoped(device, "head.cat1", [&] { copy_into(device, input2, cat1.channel_slice(c3, input2.shape().c)); });
  Tensor x4 = conv(4)(device, cat1);
  deallocate(cat1);
  Tensor x5 = conv(5)(device, x4);
  deallocate(x4);
  Tensor x6 = conv(6)(device, x5);
  deallocate(x5);
  Tensor x7 = conv(7)(device, x6);
  deallocate(x6);
  Tensor x8 = conv(8)(device, x7);
  deallocate(x7);
  Tensor x9 = conv(9)(device, x8);
  Tensor x10 = conv(10)(device, x9);
  deallocate(x9);

  // torch.cat([conv11(x8), input3])
  const int c11 = conv(11).conv().params().out_channels;
  Tensor cat2 = allocate_concat(device, input3.shape(), c11 + input3.shape().c, input3.dtype());
  conv(11).into(device, x8, cat2.channel_slice(0, c11));
  deallocate(x8);
  scoped(device, "head.cat2", [&] { copy_into(device, input3, cat2.channel_slice(c11, input3.shape().c)); });
  Tensor x12 = conv(12)(device, cat2);
  deallocate(cat2);
  Tensor x13 = conv(13)(device, x12);
  deallocate(x12);
  Tensor x14 = conv(14)(device, x13);
  deallocate(x13);
  Tensor x15 = conv(15)(device, x14);
  deallocate(x14);
  Tensor x16 = conv(16)(device, x15);
  deallocate(x15);
  Tensor x17 = conv(17)(device, x16);
  deallocate(x16);
  Tensor x18 = conv(18)(device, x17);
  deallocate(x17);
  return {x2, x10, x18};
}

}  // namespace yolo4
