// f32 kernels for AVX-512 (compiled with AVX-512 flags; chosen at run time from cpuid).
#include "yolo4/kernels/f32_kernels.h"
#include "yolo4/kernels/vec_avx512.h"

namespace yolo4::kernels {

extern const KernelTable kernels_avx512 = {
    Isa::kAvx512,
    {&f32_conv_ukernel<VecAvx512, 12, 2>, 12, 32, "f32_conv_12x32__avx512"},
    &f32_activation<VecAvx512>,
    &f32_add<VecAvx512>,
    &f32_fma_loop<VecAvx512>,
    2 * kFmaChains * VecAvx512::kLanes,
};

}  // namespace yolo4::kernels
