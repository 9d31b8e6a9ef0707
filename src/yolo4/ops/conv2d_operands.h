// Activation operands of the conv kernels: conversions from activation storage (float or
// bfloat16 bits) to the kernel's operand type, shared by the direct and the Winograd packing,
// and the tiling arithmetic both use.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "yolo4/core/dtype.h"
#include "yolo4/kernels/kernels.h"

namespace yolo4::conv_operands {

using kernels::kKBlock;

// What packing does to activations for a kF32 kernel running LoFi: round them to bf16, and for
// VDPBF16PS's exact order put each pair's odd element first.
struct OperandRounding {
  bool bf16 = false;
  bool swap_pairs = false;
};
inline OperandRounding operand_rounding(const kernels::ConvKernel& k) {
  return {k.bf16_operands != kernels::Bf16Operands::kNone,
          k.bf16_operands == kernels::Bf16Operands::kPairOrder};
}

// Whole tiles, blocks or panels covering `value`.
inline int ceil_div(int64_t value, int64_t divisor) {
  return int((value + divisor - 1) / divisor);
}

// A part of a conv's work: MR-row tiles [tile_begin, tile_end) against weight panels
// [panel_begin, panel_end).
struct WorkRange {
  int tile_begin, tile_end, panel_begin, panel_end;
  bool has_panel(int panel) const { return panel >= panel_begin && panel < panel_end; }
};

// The MR-rows per block when a core's `rows` are cut into blocks of about `target`: as many
// blocks as the nearest whole number of targets (at least one), equal to within a row, so that
// no block is a small remainder that meets all the weights again for a few rows (100 output
// pixels at 10x10 were 8 + 1 rows of 12). A block may exceed the target by up to half.
inline int balanced_block_rows(int rows, int target) {
  const int blocks = std::max(1, (rows + target / 2) / target);
  return ceil_div(rows, blocks);
}

inline float widen(float x) {
  return x;
}
inline float widen(uint16_t x) {
  return to_float(bfloat16{x});
}
// `round`: to a bf16 value, for LoFi on a kF32 kernel.
template <class Dst>
inline Dst operand(float x, bool round);
template <>
inline float operand<float>(float x, bool round) {
  return round ? to_float(to_bfloat16(x)) : x;
}
template <>
inline uint16_t operand<uint16_t>(float x, bool) {
  return to_bfloat16(x).bits;
}

// One block of 16 reduction values from one pixel. Whole blocks take loops the compiler
// vectorises (fp32 to bf16: g++ 12 does, where it keeps this function out of line; forced
// inline into the packing it did not).
template <class Src, class Dst>
void convert_block(const Src* src, int valid, Dst* dst, OperandRounding rounding) {
  // bfloat16 storage holds bf16 values already.
  const bool round = rounding.bf16 && !std::is_same_v<Src, uint16_t>;
  if (!rounding.swap_pairs && valid == kKBlock) {
    if constexpr (std::is_same_v<Src, Dst>) {
      if (!round) {
        std::memcpy(dst, src, sizeof(Dst) * kKBlock);
        return;
      }
    }
    if (round) {
      for (int j = 0; j < kKBlock; ++j) dst[j] = operand<Dst>(widen(src[j]), true);
    } else {
      for (int j = 0; j < kKBlock; ++j) dst[j] = operand<Dst>(widen(src[j]), false);
    }
    return;
  }
  for (int j = 0; j < kKBlock; ++j) {
    dst[rounding.swap_pairs ? j ^ 1 : j] = j < valid ? operand<Dst>(widen(src[j]), round) : Dst{};
  }
}

}  // namespace yolo4::conv_operands
