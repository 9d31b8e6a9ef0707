// Kernels for AVX-512 (compiled with AVX-512 flags; chosen at run time from cpuid).
#include "yolo4/kernels/f32_kernels.h"
#include "yolo4/kernels/vec_avx512.h"

namespace yolo4::kernels {

extern const ConvKernel bf16_conv_12x32__avx512bf16;
void bfp8_decode_pairs__avx512(const uint8_t* exponents, const uint8_t* values, int lanes,
                               uint32_t* dst);
void bfp8_decode_f32__avx512(const uint8_t* exponents, const uint8_t* values, int lanes,
                             float* dst);

// LoFi uses VDPBF16PS where the CPU has AVX512_BF16 (dispatch swaps it in), else widened bf16.
extern const KernelTable kernels_avx512 = make_kernel_table<VecAvx512, 12, 2>(
    Isa::kAvx512, "f32_conv_12x32__avx512", "bf16widened_conv_12x32__avx512",
    "bfp8decoded_conv_12x32__avx512", "bf16emu_conv_12x32__avx512",
    "bf16widened_inplace_conv_12x32__avx512", &bfp8_decode_pairs__avx512, &bfp8_decode_f32__avx512,
    kBlockingL2Of1MB);

}  // namespace yolo4::kernels
