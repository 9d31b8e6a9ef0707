// Portable kernels: run on any CPU.
#include "yolo4/kernels/f32_kernels.h"
#include "yolo4/kernels/vec_scalar.h"

namespace yolo4::kernels {

extern const KernelTable kernels_scalar = make_kernel_table<VecScalar>(
    Isa::kScalar, f32_conv_kernel<VecScalar, 4, 8>("f32_conv_4x8__scalar", false),
    f32_conv_kernel<VecScalar, 4, 8>("bf16emu_conv_4x8__scalar", true));

}  // namespace yolo4::kernels
