// Kernels for AVX2 + FMA (compiled with AVX2 flags; chosen at run time from cpuid).
#include "yolo4/kernels/f32_kernels.h"
#include "yolo4/kernels/vec_avx2.h"

namespace yolo4::kernels {

void bfp8_decode_pairs__avx2(const uint8_t* exponents, const uint8_t* values, int lanes,
                             uint32_t* dst);
void bfp8_decode_f32__avx2(const uint8_t* exponents, const uint8_t* values, int lanes, float* dst);

extern const KernelTable kernels_avx2 = make_kernel_table<VecAvx2, 6, 2>(
    Isa::kAvx2, "f32_conv_6x16__avx2", "bf16widened_conv_6x16__avx2", "bfp8decoded_conv_6x16__avx2",
    "bf16emu_conv_6x16__avx2", "bf16widened_inplace_conv_6x16__avx2", &bfp8_decode_pairs__avx2,
    &bfp8_decode_f32__avx2, kBlockingL2Of512KB);

}  // namespace yolo4::kernels
