// The one place that maps an ISA to its kernels.
#include "yolo4/core/error.h"
#include "yolo4/kernels/kernels.h"

namespace yolo4::kernels {

extern const KernelTable kernels_avx512;
extern const KernelTable kernels_avx2;
extern const KernelTable kernels_scalar;

const KernelTable& kernel_table(Isa isa) {
  YOLO4_CHECK(isa_supported(isa), "this CPU cannot run the ", to_string(isa), " kernels");
  switch (isa) {
    case Isa::kAvx512: return kernels_avx512;
    case Isa::kAvx2: return kernels_avx2;
    case Isa::kScalar: return kernels_scalar;
  }
  fail("unknown ISA");
}

}  // namespace yolo4::kernels
