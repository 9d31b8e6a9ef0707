// Activation operands of the conv kernels: conversions from activation storage (float or
// bfloat16 bits) to the kernel's operand type, shared by the direct and the Winograd packing,
// and the tiling arithmetic both use.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "yolo4/core/dtype.h"
#include "yolo4/kernels/kernels.h"

namespace yolo4::conv_operands {

using kernels::kKBlock;

// Whole tiles, blocks or panels covering `value`.
inline int ceil_div(int64_t value, int64_t divisor) {
  return int((value + divisor - 1) / divisor);
}

// `emulate` rounds fp32 operands to bf16 for the exact LoFi emulation.
inline float widen(float x) {
  return x;
}
inline float widen(uint16_t x) {
  return to_float(bfloat16{x});
}
template <class Dst>
inline Dst operand(float x, bool emulate);
template <>
inline float operand<float>(float x, bool emulate) {
  return emulate ? to_float(to_bfloat16(x)) : x;
}
template <>
inline uint16_t operand<uint16_t>(float x, bool) {
  return to_bfloat16(x).bits;
}

// One block of 16 reduction values from one pixel; `swap` puts each pair's odd element first.
template <class Src, class Dst>
void convert_block(const Src* src, int valid, Dst* dst, bool emulate, bool swap) {
  if constexpr (std::is_same_v<Src, Dst>) {
    if (!emulate && !swap && valid == kKBlock) {
      std::memcpy(dst, src, sizeof(Dst) * kKBlock);
      return;
    }
  }
  for (int j = 0; j < kKBlock; ++j) {
    dst[swap ? j ^ 1 : j] = j < valid ? operand<Dst>(widen(src[j]), emulate) : Dst{};
  }
}

}  // namespace yolo4::conv_operands
