#include "yolo4/ops/conv2d_weights.h"

#include "yolo4/core/error.h"

namespace yolo4 {

using kernels::kKBlock;
using kernels::OperandFormat;

namespace {
constexpr int kPairsPerBlock = kKBlock / 2;
// Panel width bound for the stack buffer of one decoded block (kernels have NR <= 32).
constexpr int kMaxBfp8Lanes = 64;

// Each block of 16 values of a packed row to the bfloat8_b values that encode to it (as the
// kernels' decoders give them).
void round_to_bfp8_blocks(std::vector<float>& row) {
  uint16_t decoded[kKBlock];
  for (size_t k = 0; k < row.size(); k += kKBlock) {
    decode_bfp8_bf16(encode_bfp8(&row[k]), decoded);
    for (int i = 0; i < kKBlock; ++i) row[k + i] = to_float(bfloat16{decoded[i]});
  }
}
}  // namespace

PackedConvWeights::PackedConvWeights(std::span<const float> weight_oihw, int out_channels,
                                     const ReductionLayout& layout,
                                     const kernels::ConvKernel& kernel, DataType weights_dtype,
                                     DataType resident_dtype)
    : layout_(layout),
      pair_weights_(kernel.operands == OperandFormat::kBf16Pairs || kernel.bf16_pair_weights),
      swap_pairs_(kernel.bf16_operands == kernels::Bf16Operands::kPairOrder),
      // bf16 values (bfloat8_b ones are too) for a kF32 kernel that reads fp32 weights and needs
      // no pair swap.
      widen_(!pair_weights_ && !swap_pairs_ &&
             (weights_dtype != DataType::FLOAT32 ||
              kernel.bf16_operands != kernels::Bf16Operands::kNone)),
      nr_(kernel.nr),
      dtype_(resident_dtype),
      widen_pairs_(kernel.widen_bf16_pairs) {
  YOLO4_CHECK(resident_dtype == weights_dtype ||
                  (weights_dtype == DataType::BFLOAT8_B && resident_dtype == DataType::BFLOAT16),
              "conv2d: ", to_string(weights_dtype), " weights cannot stay resident as ",
              to_string(resident_dtype));
  const int k_total = layout.k_total();
  const bool lofi = kernel.operands == OperandFormat::kBf16Pairs ||
                    kernel.bf16_operands != kernels::Bf16Operands::kNone;
  // The logical matrix: one row of k_total reduction values per (padded) output channel.
  std::vector<float> row(k_total);
  bool vector_decode_exact = true;
  if (dtype_ == DataType::BFLOAT8_B) {
    YOLO4_CHECK(kernel.bfp8_decode_pairs && nr_ % 8 == 0 && nr_ <= kMaxBfp8Lanes, "conv2d: kernel ",
                kernel.name, " cannot take bfloat8_b weights");
    const size_t blocks = size_t(layout.panels) * layout.kblocks * nr_;
    bfp8_exponents_.resize(blocks);
    bfp8_values_.resize(blocks * kKBlock);
  } else if (!pair_weights_ && !widen_) {
    f32_.assign(size_t(layout.panels) * panel_elements(), 0.0f);
  } else {
    bf16_.assign(size_t(layout.panels) * panel_elements(), 0);
  }

  for (int o = 0; o < layout.panels * nr_; ++o) {
    std::fill(row.begin(), row.end(), 0.0f);
    for (int c = 0; o < out_channels && c < layout.in_channels; ++c) {
      for (int tap = 0; tap < layout.taps; ++tap) {
        row[tap * layout.channels_per_tap + c] =
            weight_oihw[(size_t(o) * layout.in_channels + c) * layout.taps + tap];
      }
    }
    const int panel = o / nr_, lane = o % nr_;
    if (weights_dtype == DataType::BFLOAT8_B && dtype_ == DataType::BFLOAT16) {
      round_to_bfp8_blocks(row);  // resident as their bf16 values below
    }
    if (dtype_ == DataType::BFLOAT8_B) {
      for (int kb = 0; kb < layout.kblocks; ++kb) {
        const BlockBfp8 block = encode_bfp8(&row[kb * kKBlock]);
        const size_t b = size_t(panel) * layout.kblocks + kb;
        bfp8_exponents_[b * nr_ + lane] = block.shared_exponent;
        for (int i = 0; i < kKBlock; ++i) {
          bfp8_values_[((b * kPairsPerBlock + i / 2) * nr_ + lane) * 2 + i % 2] = block.values[i];
        }
        vector_decode_exact = vector_decode_exact && kernels::bfp8_vector_decode_exact(block);
      }
      continue;
    }
    void* panel_base = f32_.empty() ? static_cast<void*>(bf16_.data() + panel * panel_elements())
                                    : static_cast<void*>(f32_.data() + panel * panel_elements());
    for (int k = 0; k < k_total; ++k) {
      float v = row[k];
      if (dtype_ == DataType::BFLOAT16 || lofi) v = to_float(to_bfloat16(v));
      store(panel_base, !f32_.empty(), k, lane, v);
    }
  }
  // Blocks outside the vector decoders' range (exponents <= 6, whose values are denormal, or 255)
  // take tiny or huge weights: such a rare tensor decodes with the exact scalar decoder.
  if (dtype_ == DataType::BFLOAT8_B) {
    const kernels::KernelTable& exact = kernels::kernel_table(Isa::kScalar);
    bfp8_decode_ = vector_decode_exact ? kernel.bfp8_decode_pairs : exact.bfp8_decode_pairs;
    bfp8_decode_f32_ = vector_decode_exact ? kernel.bfp8_decode_f32 : exact.bfp8_decode_f32;
  }
}

void PackedConvWeights::store(void* dst, bool f32, int k, int lane, float value) const {
  if (f32) {
    const int position = swap_pairs_ ? k ^ 1 : k;  // VDPBF16PS adds the odd element first
    static_cast<float*>(dst)[size_t(position) * nr_ + lane] = value;
  } else {
    static_cast<uint16_t*>(dst)[(size_t(k / 2) * nr_ + lane) * 2 + (k & 1)] =
        to_bfloat16(value).bits;
  }
}

void PackedConvWeights::decode_chunk(int panel, int kb0, int kb1, void* dst) const {
  if (dtype_ != DataType::BFLOAT8_B) {  // resident bf16 pairs, widened
    const uint16_t* pairs = bf16_.data() + panel * panel_elements() + size_t(kb0) * kKBlock * nr_;
    widen_pairs_(reinterpret_cast<const uint32_t*>(pairs), nr_, (kb1 - kb0) * kPairsPerBlock,
                 static_cast<float*>(dst));
    return;
  }
  for (int kb = kb0; kb < kb1; ++kb) {
    const size_t b = size_t(panel) * layout_.kblocks + kb;
    const uint8_t* exponents = bfp8_exponents_.data() + b * nr_;
    const uint8_t* values = bfp8_values_.data() + b * kKBlock * nr_;
    // The hot paths: straight into the operands, bf16 pairs or widened fp32.
    if (pair_weights_) {
      bfp8_decode_(exponents, values, nr_,
                   static_cast<uint32_t*>(dst) + size_t(kb - kb0) * kPairsPerBlock * nr_);
      continue;
    }
    if (widen_) {
      bfp8_decode_f32_(exponents, values, nr_,
                       static_cast<float*>(dst) + size_t(kb - kb0) * kKBlock * nr_);
      continue;
    }
    uint32_t pairs[kPairsPerBlock * kMaxBfp8Lanes];
    bfp8_decode_(exponents, values, nr_, pairs);
    for (int j = 0; j < kPairsPerBlock; ++j) {  // VDPBF16PS's order, for tests: not vectorised
      const int k = (kb - kb0) * kKBlock + 2 * j;
      for (int lane = 0; lane < nr_; ++lane) {
        const uint32_t pair = pairs[j * nr_ + lane];
        store(dst, true, k, lane, to_float(bfloat16{uint16_t(pair)}));
        store(dst, true, k + 1, lane, to_float(bfloat16{uint16_t(pair >> 16)}));
      }
    }
  }
}

const void* PackedConvWeights::chunk(int panel, int kb0, int kb1,
                                     AlignedVector<float>& scratch) const {
  const size_t offset = panel * panel_elements() + size_t(kb0) * kKBlock * nr_;
  if (!decoded_per_chunk()) {
    return f32_.empty() ? static_cast<const void*>(bf16_.data() + offset)
                        : static_cast<const void*>(f32_.data() + offset);
  }
  // Decode the chunk; its k positions are relative to kb0 (a multiple of 16, so pairs hold).
  const size_t elements = size_t(kb1 - kb0) * kKBlock * nr_;
  scratch.resize(pair_weights_ ? (elements + 1) / 2 : elements);
  decode_chunk(panel, kb0, kb1, scratch.data());
  return scratch.data();
}

size_t PackedConvWeights::decoded_panel_bytes() const {
  return panel_elements() * weight_bytes();
}

void PackedConvWeights::decode_panels(int p0, int p1, AlignedVector<float>& scratch) const {
  scratch.resize((size_t(p1 - p0) * decoded_panel_bytes() + 3) / 4);
  for (int panel = p0; panel < p1; ++panel) {
    decode_chunk(
        panel, 0, layout_.kblocks,
        reinterpret_cast<std::byte*>(scratch.data()) + (panel - p0) * decoded_panel_bytes());
  }
}

const void* PackedConvWeights::chunk_of(const AlignedVector<float>& decoded, int panel_index,
                                        int kb0) const {
  return reinterpret_cast<const std::byte*>(decoded.data()) + panel_index * decoded_panel_bytes() +
         size_t(kb0) * kKBlock * nr_ * weight_bytes();
}

size_t PackedConvWeights::resident_bytes() const {
  return f32_.size() * 4 + bf16_.size() * 2 + bfp8_exponents_.size() + bfp8_values_.size();
}

}  // namespace yolo4
