// Portable kernels: run on any CPU.
#include "yolo4/kernels/f32_kernels.h"
#include "yolo4/kernels/vec_scalar.h"

namespace yolo4::kernels {

void bfp8_decode_pairs__scalar(const uint8_t* exponents, const uint8_t* values, int lanes,
                               uint32_t* dst);
void bfp8_decode_f32__scalar(const uint8_t* exponents, const uint8_t* values, int lanes,
                             float* dst);

extern const KernelTable kernels_scalar = make_kernel_table<VecScalar, 4, 8>(
    Isa::kScalar, "f32_conv_4x8__scalar", "bf16widened_conv_4x8__scalar",
    "bfp8decoded_conv_4x8__scalar", "bf16emu_conv_4x8__scalar",
    "bf16widened_inplace_conv_4x8__scalar", &bfp8_decode_pairs__scalar, &bfp8_decode_f32__scalar,
    kBlockingL2Of512KB);

}  // namespace yolo4::kernels
