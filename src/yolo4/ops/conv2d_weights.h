// conv2d weights, packed once at creation into the kernel's operand layout and data type
// (ncnn's create_pipeline), and handed to the kernel one panel chunk at a time.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "yolo4/core/aligned_vector.h"
#include "yolo4/core/dtype.h"
#include "yolo4/core/huge_pages.h"
#include "yolo4/kernels/kernels.h"

namespace yolo4 {

// The packed reduction order both operands share: k = tap * channels_per_tap + c, padded with
// zeros to whole kKBlock blocks; output channels padded to whole panels of NR. Where a kernel
// reads bf16 pairs of an RGB stem's input in place, each kernel row of taps takes row_values
// (an even count) with zeros after its taps: k = ky * row_values + kx * channels_per_tap + c.
struct ReductionLayout {
  int in_channels = 0, channels_per_tap = 0, kblocks = 0, panels = 0;
  int kernel = 1;      // taps per kernel row
  int row_values = 0;  // k between kernel rows; 0: kernel * channels_per_tap (no gaps)
  int taps() const { return kernel * kernel; }
  int row_stride() const { return row_values > 0 ? row_values : kernel * channels_per_tap; }
  int k_of(int tap, int c) const {
    return tap / kernel * row_stride() + tap % kernel * channels_per_tap + c;
  }
  int k_total() const { return kblocks * kernels::kKBlock; }
};

class PackedConvWeights {
 public:
  // weights_dtype, the values: FLOAT32 keeps fp32 values; BFLOAT16 rounds each; BFLOAT8_B
  // rounds blocks of 16 along the reduction. resident_dtype, their form in memory: weights_dtype,
  // or BFLOAT16 for bfloat8_b values (exact). Resident BFLOAT8_B blocks (17 bytes per 16
  // weights) are decoded at run time by the kernel's bfp8_decode_pairs (bfp8_decode_f32 for a
  // kernel reading fp32 weights). bf16 values (BFLOAT16, or any dtype under LoFi) stay resident
  // as bf16 pairs: a kernel reading pairs (kBf16Pairs, bf16_pair_weights) takes them as they
  // are, another kF32 kernel gets them widened chunk by chunk.
  PackedConvWeights(std::span<const float> weight_oihw, int out_channels,
                    const ReductionLayout& layout, const kernels::ConvKernel& kernel,
                    DataType weights_dtype, DataType resident_dtype);

  // Weights of `panel` for reduction blocks [kb0, kb1) in the kernel's operand layout: a
  // pointer into the resident copy, or bfloat8_b blocks decoded (bf16 widened) into `scratch`.
  const void* chunk(int panel, int kb0, int kb1, AlignedVector<float>& scratch) const;
  size_t resident_bytes() const;

  // Weights that chunk() decodes or widens: whole panels [p0, p1) can be decoded into `scratch`
  // once, for a core that would otherwise decode the same chunks block after block; then
  // chunk_of(scratch, ...) finds them.
  bool is_block_format() const { return dtype_ == DataType::BFLOAT8_B; }
  bool decoded_per_chunk() const { return is_block_format() || widen_; }
  size_t decoded_panel_bytes() const;
  void decode_panels(int p0, int p1, AlignedVector<float>& scratch) const;
  const void* chunk_of(const AlignedVector<float>& decoded, int panel_index, int kb0) const;

 private:
  // Writes the logical value of (k, lane) of one panel at `dst`: kF32 operands (`f32`, pairs
  // swapped for VDPBF16PS's order) or bf16 pairs.
  void store(void* dst, bool f32, int k, int lane, float value) const;
  // Writes one panel's [k][lane] values as kF32 operands or bf16 pairs, rounded to bf16 first
  // where `to_bf16`.
  void store_panel(std::vector<float>& logical, int panel, bool to_bf16);
  // Encodes one panel's [k][lane] values as bfloat8_b blocks; false if a block needs the exact
  // scalar decoder.
  bool store_bfp8_panel(const std::vector<float>& logical, int panel);
  // Decodes (or widens) blocks [kb0, kb1) of `panel` into dst, whose k positions start at kb0.
  void decode_chunk(int panel, int kb0, int kb1, void* dst) const;
  size_t panel_elements() const { return size_t(layout_.k_total()) * nr_; }

  size_t weight_bytes() const { return pair_weights_ ? 2 : 4; }  // per packed weight

  ReductionLayout layout_;
  bool pair_weights_;  // the kernel reads bf16 pairs [k/2][NR][2]
  bool swap_pairs_;
  bool widen_;  // bf16 values resident as bf16 pairs for a kernel reading fp32 weights
  int nr_;
  DataType dtype_;                 // resident
  HugePageVector<float> f32_;      // kF32 operands: [panel][k][NR]
  HugePageVector<uint16_t> bf16_;  // pair_weights_ or widen_: [panel][k/2][NR][2]
  // bfloat8_b, planar like a Tenstorrent tile: the shared exponents [panel][kb][NR], then the
  // value bytes [panel][kb][8 pairs][NR][2], already in the order of the kBf16Pairs operands.
  HugePageVector<uint8_t> bfp8_exponents_;
  HugePageVector<uint8_t> bfp8_values_;
  kernels::Bfp8PairsDecodeFn bfp8_decode_ = nullptr;
  kernels::Bfp8F32DecodeFn bfp8_decode_f32_ = nullptr;  // widen_: blocks straight to operands
  kernels::Bf16PairsWidenFn widen_pairs_ = nullptr;
};

}  // namespace yolo4
