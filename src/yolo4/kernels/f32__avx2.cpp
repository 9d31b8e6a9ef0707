// f32 kernels for AVX2 + FMA (compiled with AVX2 flags; chosen at run time from cpuid).
#include "yolo4/kernels/f32_kernels.h"
#include "yolo4/kernels/vec_avx2.h"

namespace yolo4::kernels {

extern const KernelTable kernels_avx2 = {
    Isa::kAvx2,
    {&f32_conv_ukernel<VecAvx2, 6, 2>, 6, 16, "f32_conv_6x16__avx2"},
    &f32_activation<VecAvx2>,
    &f32_add<VecAvx2>,
    &f32_fma_loop<VecAvx2>,
    2 * kFmaChains * VecAvx2::kLanes,
};

}  // namespace yolo4::kernels
