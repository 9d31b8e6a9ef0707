// Portable f32 kernels: run on any CPU.
#include "yolo4/kernels/f32_kernels.h"
#include "yolo4/kernels/vec_scalar.h"

namespace yolo4::kernels {

extern const KernelTable kernels_scalar = {
    Isa::kScalar,
    {&f32_conv_ukernel<VecScalar, 4, 8>, 4, 8, "f32_conv_4x8__scalar"},
    &f32_activation<VecScalar>,
    &f32_add<VecScalar>,
    &f32_fma_loop<VecScalar>,
    2 * kFmaChains * VecScalar::kLanes,
};

}  // namespace yolo4::kernels
