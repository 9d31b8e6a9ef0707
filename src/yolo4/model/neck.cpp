#include "yolo4/model/neck.h"

#include <string>

#include "yolo4/ops/pool.h"
#include "yolo4/ops/upsample.h"

namespace yolo4 {

Neck::Neck(const Yolov4Weights& w, const ModelOptions& o) {
  for (int i = 1; i <= 20; ++i) convs_.emplace_back(w, "neek.conv" + std::to_string(i), o);
}

namespace {
// torch.cat([lateral(source), upsample(x)]) at source's pixels: both write their half in place.
Tensor upsample_beside(Device& device, Tensor x, const ConvBlock& lateral, const Tensor& source,
                       std::string_view scope) {
  const int c = lateral.conv().params().out_channels, up = x.shape().c;
  Tensor cat = allocate_concat(device, source.shape(), c + up, x.dtype());
  scoped(device, scope, [&] { upsample_nearest2x(device, x, cat.channel_slice(c, up)); });
  deallocate(x);
  lateral.into(device, source, cat.channel_slice(0, c));
  return cat;
}
}  // namespace

std::array<Tensor, 3> Neck::operator()(Device& device, const Tensor& d5, const Tensor& d4,
                                       const Tensor& d3) const {
  Tensor x2 = run_convs(device, convs_, d5, 1, 2);
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

  Tensor x6 = run_convs(device, convs_, std::move(spp), 4, 6);
  Tensor cat1 = upsample_beside(device, conv(7)(device, x6), conv(8), d4, "neek.upsample1");
  Tensor x13 = run_convs(device, convs_, std::move(cat1), 9, 13);
  Tensor cat2 = upsample_beside(device, conv(14)(device, x13), conv(15), d3, "neek.upsample2");
  Tensor x20 = run_convs(device, convs_, std::move(cat2), 16, 20);
  return {x20, x13, x6};
}

}  // namespace yolo4
