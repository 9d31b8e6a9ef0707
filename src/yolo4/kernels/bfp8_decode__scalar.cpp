// bfloat8_b weights to bf16 pairs or to fp32 operands in portable C++: runs on any CPU and is
// exact for every block, so it is also the fallback for blocks the vector decoders do not cover.
#include "yolo4/kernels/kernels.h"

namespace yolo4::kernels {

namespace {

// Each lane's block, decoded by the format's definition; store(j, lane, even, odd) gets pair j.
template <class Store>
void decode_blocks(const uint8_t* exponents, const uint8_t* values, int lanes, Store store) {
  for (int lane = 0; lane < lanes; ++lane) {
    BlockBfp8 block;
    block.shared_exponent = exponents[lane];
    for (int i = 0; i < kKBlock; ++i) {
      block.values[i] = values[(size_t(i / 2) * lanes + lane) * 2 + i % 2];
    }
    uint16_t bf16[kKBlock];
    decode_bfp8_bf16(block, bf16);
    for (int j = 0; j < kKBlock / 2; ++j) store(j, lane, bf16[2 * j], bf16[2 * j + 1]);
  }
}

}  // namespace

void bfp8_decode_pairs__scalar(const uint8_t* exponents, const uint8_t* values, int lanes,
                               uint32_t* dst) {
  decode_blocks(exponents, values, lanes, [&](int j, int lane, uint16_t even, uint16_t odd) {
    dst[size_t(j) * lanes + lane] = uint32_t(even) | uint32_t(odd) << 16;
  });
}

void bfp8_decode_f32__scalar(const uint8_t* exponents, const uint8_t* values, int lanes,
                             float* dst) {
  decode_blocks(exponents, values, lanes, [&](int j, int lane, uint16_t even, uint16_t odd) {
    dst[size_t(2 * j) * lanes + lane] = to_float(bfloat16{even});
    dst[size_t(2 * j + 1) * lanes + lane] = to_float(bfloat16{odd});
  });
}

}  // namespace yolo4::kernels
