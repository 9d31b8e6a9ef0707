#include "yolo4/ops/conv2d_weights.h"

#include <algorithm>

#include "yolo4/core/error.h"

namespace yolo4 {

using kernels::kKBlock;
using kernels::OperandFormat;

namespace {
constexpr int kPairsPerBlock = kKBlock / 2;
// Panel width bound for the stack buffer of one decoded block (kernels have NR <= 32).
constexpr int kMaxBfp8Lanes = 64;

// One panel's weights in the packed reduction order, [k][lane] (k = layout.k_of(tap, c)),
// zeros where k or the output channel is padding: written whole, then converted with contiguous
// stores (the model's load time is mostly this packing and Winograd's transform).
void gather_panel(std::span<const float> weight_oihw, int out_channels,
                  const ReductionLayout& layout, int nr, int panel, std::vector<float>& logical) {
  std::fill(logical.begin(), logical.end(), 0.0f);
  const int o_begin = panel * nr, o_end = std::min(out_channels, o_begin + nr);
  // A transpose, [o][c][tap] -> [tap][c][o], in blocks of channels that stay in L1.
  constexpr int kChannelBlock = 16;
  for (int c0 = 0; c0 < layout.in_channels; c0 += kChannelBlock) {
    const int c1 = std::min(layout.in_channels, c0 + kChannelBlock);
    for (int o = o_begin; o < o_end; ++o) {
      const float* w = weight_oihw.data() + size_t(o) * layout.in_channels * layout.taps();
      float* column = logical.data() + (o - o_begin);
      for (int tap = 0; tap < layout.taps(); ++tap) {
        float* dst = column + size_t(layout.k_of(tap, 0)) * nr;
        for (int c = c0; c < c1; ++c) dst[size_t(c) * nr] = w[c * layout.taps() + tap];
      }
    }
  }
}

// Lane `lane`'s 16 values of reduction block kb.
void block_of(const std::vector<float>& logical, int nr, int kb, int lane, float* block) {
  for (int i = 0; i < kKBlock; ++i) block[i] = logical[size_t(kb * kKBlock + i) * nr + lane];
}

// Every block of 16 values to the bfloat8_b values that encode to it (as the kernels' decoders
// give them).
void round_to_bfp8_blocks(std::vector<float>& logical, int nr) {
  const int kblocks = int(logical.size() / nr / kKBlock);
  float block[kKBlock];
  uint16_t decoded[kKBlock];
  for (int kb = 0; kb < kblocks; ++kb) {
    for (int lane = 0; lane < nr; ++lane) {
      block_of(logical, nr, kb, lane, block);
      decode_bfp8_bf16(encode_bfp8(block), decoded);
      for (int i = 0; i < kKBlock; ++i) {
        logical[size_t(kb * kKBlock + i) * nr + lane] = to_float(bfloat16{decoded[i]});
      }
    }
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
  const bool lofi = kernel.operands == OperandFormat::kBf16Pairs ||
                    kernel.bf16_operands != kernels::Bf16Operands::kNone;
  const size_t panel_size = panel_elements();
  bool vector_decode_exact = true;
  if (dtype_ == DataType::BFLOAT8_B) {
    YOLO4_CHECK(kernel.bfp8_decode_pairs && nr_ % 8 == 0 && nr_ <= kMaxBfp8Lanes, "conv2d: kernel ",
                kernel.name, " cannot take bfloat8_b weights");
    const size_t blocks = size_t(layout.panels) * layout.kblocks * nr_;
    bfp8_exponents_.resize(blocks);
    bfp8_values_.resize(blocks * kKBlock);
  } else if (!pair_weights_ && !widen_) {
    f32_.resize(size_t(layout.panels) * panel_size);
  } else {
    bf16_.resize(size_t(layout.panels) * panel_size);
  }

  std::vector<float> logical(panel_size);
  for (int panel = 0; panel < layout.panels; ++panel) {
    gather_panel(weight_oihw, out_channels, layout, nr_, panel, logical);
    if (weights_dtype == DataType::BFLOAT8_B && dtype_ == DataType::BFLOAT16) {
      round_to_bfp8_blocks(logical, nr_);  // resident as their bf16 values below
    }
    if (dtype_ == DataType::BFLOAT8_B) {
      vector_decode_exact = store_bfp8_panel(logical, panel) && vector_decode_exact;
      continue;
    }
    store_panel(logical, panel, dtype_ == DataType::BFLOAT16 || lofi);
  }
  // Blocks outside the vector decoders' range (exponents <= 6, whose values are denormal, or 255)
  // take tiny or huge weights: such a rare tensor decodes with the exact scalar decoder.
  if (dtype_ == DataType::BFLOAT8_B) {
    const kernels::KernelTable& exact = kernels::kernel_table(Isa::kScalar);
    bfp8_decode_ = vector_decode_exact ? kernel.bfp8_decode_pairs : exact.bfp8_decode_pairs;
    bfp8_decode_f32_ = vector_decode_exact ? kernel.bfp8_decode_f32 : exact.bfp8_decode_f32;
  }
}

void PackedConvWeights::store_panel(std::vector<float>& logical, int panel, bool to_bf16) {
  if (to_bf16) {
    for (float& v : logical) v = to_float(to_bfloat16(v));
  }
  const int k_total = layout_.k_total();
  if (!f32_.empty()) {
    float* dst = f32_.data() + panel * panel_elements();
    for (int k = 0; k < k_total; ++k) {
      const int position = swap_pairs_ ? k ^ 1 : k;  // VDPBF16PS adds the odd element first
      std::copy_n(logical.data() + size_t(k) * nr_, nr_, dst + size_t(position) * nr_);
    }
    return;
  }
  uint16_t* dst = bf16_.data() + panel * panel_elements();
  for (int k = 0; k < k_total; ++k) {
    const float* row = logical.data() + size_t(k) * nr_;
    for (int lane = 0; lane < nr_; ++lane) {
      dst[(size_t(k / 2) * nr_ + lane) * 2 + (k & 1)] = to_bfloat16(row[lane]).bits;
    }
  }
}

bool PackedConvWeights::store_bfp8_panel(const std::vector<float>& logical, int panel) {
  bool vector_decode_exact = true;
  float values[kKBlock];
  for (int kb = 0; kb < layout_.kblocks; ++kb) {
    const size_t b = size_t(panel) * layout_.kblocks + kb;
    for (int lane = 0; lane < nr_; ++lane) {
      block_of(logical, nr_, kb, lane, values);
      const BlockBfp8 block = encode_bfp8(values);
      bfp8_exponents_[b * nr_ + lane] = block.shared_exponent;
      for (int i = 0; i < kKBlock; ++i) {
        bfp8_values_[((b * kPairsPerBlock + i / 2) * nr_ + lane) * 2 + i % 2] = block.values[i];
      }
      vector_decode_exact = vector_decode_exact && kernels::bfp8_vector_decode_exact(block);
    }
  }
  return vector_decode_exact;
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
