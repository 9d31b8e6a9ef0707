#include "yolo4/model/neck.h"

#include <string>

#include "yolo4/ops/pool.h"
#include "yolo4/ops/upsample.h"

namespace yolo4 {

Neck::Neck(const Yolov4Weights& w, const ModelOptions& o) {
  for (int i = 1; i <= 20; ++i) convs_.emplace_back(w, "neek.conv" + std::to_string(i), o);
}

std::array<Tensor, 3> Neck::operator()(Device& device, const Tensor& d5, const Tensor& d4,
                                       const Tensor& d3) const {
  Tensor x1 = conv(1)(device, d5);
  Tensor x2 = conv(2)(device, x1);
  deallocate(x1);
  // SPP: conv3 writes x straight into the last quarter of the concat; the pools fill the rest.
  const int c = conv(3).conv().params().out_channels;
  Tensor spp = allocate_concat(device, x2.shape(), 4 * c, x2.dtype());
  Tensor x3 = spp.channel_slice(3 * c, c);
  conv(3).into(device, x2, x3);
  deallocate(x2);
  {
    OpScope scope(device, "neek.spp");
    // Kernels 5, 9, 13, each straight into its slice: [pool13, pool9, pool5, x].
    spp_pools(device, x3, spp.channel_slice(2 * c, c), spp.channel_slice(c, c),
              spp.channel_slice(0, c));
  }
  deallocate(x3);

  Tensor x4 = conv(4)(device, spp);
  deallocate(spp);
  Tensor x5 = conv(5)(device, x4);
  deallocate(x4);
  Tensor x6 = conv(6)(device, x5);
  deallocate(x5);
  Tensor x7 = conv(7)(device, x6);

  // torch.cat([conv8(d4), upsample(x7)]) at d4's pixels: both write straight into their half.
  const int c1 = x7.shape().c;
  Tensor cat1 = allocate_concat(device, d4.shape(), 2 * c1, x7.dtype());
  scoped(device, "neek.upsample1",
         [&] { upsample_nearest2x(device, x7, cat1.channel_slice(c1, c1)); });
  deallocate(x7);
  conv(8).into(device, d4, cat1.channel_slice(0, c1));

  Tensor x9 = conv(9)(device, cat1);
  deallocate(cat1);
  Tensor x10 = conv(10)(device, x9);
  deallocate(x9);
  Tensor x11 = conv(11)(device, x10);
  deallocate(x10);
  Tensor x12 = conv(12)(device, x11);
  deallocate(x11);
  Tensor x13 = conv(13)(device, x12);
  deallocate(x12);
  Tensor x14 = conv(14)(device, x13);

  // torch.cat([conv15(d3), upsample(x14)]) at d3's pixels, likewise.
  const int c2 = x14.shape().c;
  Tensor cat2 = allocate_concat(device, d3.shape(), 2 * c2, x14.dtype());
  scoped(device, "neek.upsample2",
         [&] { upsample_nearest2x(device, x14, cat2.channel_slice(c2, c2)); });
  deallocate(x14);
  conv(15).into(device, d3, cat2.channel_slice(0, c2));

  Tensor x16 = conv(16)(device, cat2);
  deallocate(cat2);
  Tensor x17 = conv(17)(device, x16);
  deallocate(x16);
  Tensor x18 = conv(18)(device, x17);
  deallocate(x17);
  Tensor x19 = conv(19)(device, x18);
  deallocate(x18);
  Tensor x20 = conv(20)(device, x19);
  deallocate(x19);
  return {x20, x13, x6};
}

}  // namespace yolo4
