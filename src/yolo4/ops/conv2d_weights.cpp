#include "yolo4/ops/conv2d_weights.h"

#include "yolo4/core/error.h"

namespace yolo4 {

using kernels::kKBlock;
using kernels::OperandFormat;

PackedConvWeights::PackedConvWeights(std::span<const float> weight_oihw, int out_channels,
                                     const ReductionLayout& layout,
                                     const kernels::ConvKernel& kernel, DataType weights_dtype)
    : layout_(layout),
      operands_(kernel.operands),
      swap_pairs_(kernel.bf16_emulation),
      nr_(kernel.nr),
      dtype_(weights_dtype) {
  const int k_total = layout.k_total();
  const bool lofi = kernel.operands == OperandFormat::kBf16Pairs || kernel.bf16_emulation;
  // The logical matrix: one row of k_total reduction values per (padded) output channel.
  std::vector<float> row(k_total);
  if (dtype_ == DataType::BFLOAT8_B) bfp8_.resize(size_t(layout.panels) * layout.kblocks * nr_);
  else if (operands_ == OperandFormat::kF32) f32_.assign(size_t(layout.panels) * panel_elements(), 0.0f);
  else bf16_.assign(size_t(layout.panels) * panel_elements(), 0);

  for (int o = 0; o < layout.panels * nr_; ++o) {
    std::fill(row.begin(), row.end(), 0.0f);
    for (int c = 0; o < out_channels && c < layout.in_channels; ++c) {
      for (int tap = 0; tap < layout.taps; ++tap) {
        row[tap * layout.channels_per_tap + c] =
            weight_oihw[(size_t(o) * layout.in_channels + c) * layout.taps + tap];
      }
    }
    const int panel = o / nr_, lane = o % nr_;
    if (dtype_ == DataType::BFLOAT8_B) {
      for (int kb = 0; kb < layout.kblocks; ++kb) {
        bfp8_[(size_t(panel) * layout.kblocks + kb) * nr_ + lane] = encode_bfp8(&row[kb * kKBlock]);
      }
      continue;
    }
    void* panel_base = operands_ == OperandFormat::kF32
                           ? static_cast<void*>(f32_.data() + panel * panel_elements())
                           : static_cast<void*>(bf16_.data() + panel * panel_elements());
    for (int k = 0; k < k_total; ++k) {
      float v = row[k];
      if (dtype_ == DataType::BFLOAT16 || lofi) v = to_float(to_bfloat16(v));
      store(panel_base, k, lane, v);
    }
  }
}

void PackedConvWeights::store(void* dst, int k, int lane, float value) const {
  if (operands_ == OperandFormat::kF32) {
    const int position = swap_pairs_ ? k ^ 1 : k;  // VDPBF16PS adds the odd element first
    static_cast<float*>(dst)[size_t(position) * nr_ + lane] = value;
  } else {
    static_cast<uint16_t*>(dst)[(size_t(k / 2) * nr_ + lane) * 2 + (k & 1)] = to_bfloat16(value).bits;
  }
}

const void* PackedConvWeights::chunk(int panel, int kb0, int kb1, std::vector<float>& scratch) const {
  const size_t offset = panel * panel_elements() + size_t(kb0) * kKBlock * nr_;
  if (dtype_ != DataType::BFLOAT8_B) {
    return operands_ == OperandFormat::kF32 ? static_cast<const void*>(f32_.data() + offset)
                                            : static_cast<const void*>(bf16_.data() + offset);
  }
  // Decode the chunk; its k positions are relative to kb0 (a multiple of 16, so pairs hold).
  const size_t elements = size_t(kb1 - kb0) * kKBlock * nr_;
  scratch.resize(operands_ == OperandFormat::kF32 ? elements : (elements + 1) / 2);
  float values[kKBlock];
  for (int kb = kb0; kb < kb1; ++kb) {
    for (int lane = 0; lane < nr_; ++lane) {
      decode_bfp8(bfp8_[(size_t(panel) * layout_.kblocks + kb) * nr_ + lane], values);
      for (int j = 0; j < kKBlock; ++j) store(scratch.data(), (kb - kb0) * kKBlock + j, lane, values[j]);
    }
  }
  return scratch.data();
}

size_t PackedConvWeights::resident_bytes() const {
  return f32_.size() * 4 + bf16_.size() * 2 + bfp8_.size() * sizeof(BlockBfp8);
}

}  // namespace yolo4
