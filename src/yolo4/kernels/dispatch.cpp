// The one place that maps an ISA to its kernels.
#include "yolo4/core/error.h"
#include "yolo4/kernels/kernels.h"

namespace yolo4::kernels {

extern const KernelTable kernels_avx512;
extern const KernelTable kernels_avx2;
extern const KernelTable kernels_scalar;
extern const ConvKernel bf16_conv_12x32__avx512bf16;
extern const ConvKernel bf16_conv_32x32__avx512amx;

namespace {
const KernelTable& avx512_table() {
  // With AVX512_BF16, LoFi runs natively on VDPBF16PS instead of on widened fp32 operands.
  static const KernelTable table = [] {
    KernelTable t = kernels_avx512;
    if (native_bf16_products(Isa::kAvx512)) {
      t.conv_lofi = t.conv_lofi_decoded = t.conv_lofi_exact = bf16_conv_12x32__avx512bf16;
    }
    // With AMX-BF16, on tiles: VDPBF16PS stays for LoFi in its exact order (tests).
    if (amx_bf16_products(Isa::kAvx512))
      t.conv_lofi = t.conv_lofi_decoded = bf16_conv_32x32__avx512amx;
    return t;
  }();
  return table;
}
}  // namespace

bool native_bf16_products(Isa isa) {
  return isa == Isa::kAvx512 && cpu_features().avx512_bf16;
}

bool amx_bf16_products(Isa isa) {
  return isa == Isa::kAvx512 && cpu_features().amx_bf16;
}

const KernelTable& kernel_table(Isa isa) {
  YOLO4_CHECK(isa_supported(isa), "this CPU cannot run the ", to_string(isa), " kernels");
  switch (isa) {
    case Isa::kAvx512:
      return avx512_table();
    case Isa::kAvx2:
      return kernels_avx2;
    case Isa::kScalar:
      return kernels_scalar;
  }
  fail("unknown ISA");
}

}  // namespace yolo4::kernels
