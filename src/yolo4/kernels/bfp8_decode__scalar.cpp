// bfloat8_b weights to bf16 pairs in portable C++: runs on any CPU and is exact for every block,
// so it is also the fallback for blocks the vector decoders do not cover.
#include "yolo4/kernels/kernels.h"

namespace yolo4::kernels {

void bfp8_decode_pairs__scalar(const uint8_t* exponents, const uint8_t* values, int lanes,
                               uint32_t* dst) {
  for (int lane = 0; lane < lanes; ++lane) {
    BlockBfp8 block;
    block.shared_exponent = exponents[lane];
    for (int i = 0; i < kKBlock; ++i) {
      block.values[i] = values[(size_t(i / 2) * lanes + lane) * 2 + i % 2];
    }
    uint16_t bf16[kKBlock];
    decode_bfp8_bf16(block, bf16);
    for (int j = 0; j < kKBlock / 2; ++j) {
      dst[size_t(j) * lanes + lane] = uint32_t(bf16[2 * j]) | uint32_t(bf16[2 * j + 1]) << 16;
    }
  }
}

}  // namespace yolo4::kernels
