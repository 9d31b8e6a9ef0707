// bfloat8_b weight decoding: every ISA's decoders (to bf16 pairs and to fp32 operands) and the
// packed conv weights that use them, bit-exactly against decode_bfp8_bf16 (the format's scalar
// definition).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "test_util.h"
#include "yolo4/core/dtype.h"
#include "yolo4/kernels/kernels.h"
#include "yolo4/ops/conv2d_weights.h"

namespace yolo4 {
namespace {

using kernels::kKBlock;
constexpr int kPairs = kKBlock / 2;

// Blocks the vector decoders cover and blocks only the scalar one does (their exponents make
// denormal or overflowing values, or a zero exponent carries nonzero bytes).
enum class BlockKind { kCovered, kScalarOnly };

BlockBfp8 random_block(std::mt19937& rng, BlockKind kind) {
  auto byte = [&] { return uint8_t(rng() & 0xff); };
  BlockBfp8 block;
  if (kind == BlockKind::kScalarOnly) {
    const uint8_t exponents[] = {0, 1, 2, 3, 4, 5, 6, 255};
    block.shared_exponent = exponents[rng() % 8];
    for (uint8_t& v : block.values) v = byte();
    block.values[rng() % 16] |= 1;  // never all zero
    return block;
  }
  switch (rng() % 8) {
    case 0:  // all zero, as encode_bfp8 makes for padding: any exponent decodes to +0
      block.shared_exponent = rng() % 2 ? 0 : uint8_t(rng() % 8 == 0 ? 255 : rng() % 7);
      return block;
    case 1:  // m = 0 with its sign bit set, among negative values
      block.shared_exponent = uint8_t(7 + rng() % 248);
      for (uint8_t& v : block.values) v = rng() % 2 ? 0x80 : uint8_t(0x80 | byte());
      return block;
    case 2:  // the range's edges: the smallest normal results and the largest finite ones
      block.shared_exponent = rng() % 2 ? 7 : 254;
      for (uint8_t& v : block.values) v = rng() % 4 == 0 ? uint8_t(0x7f | (byte() & 0x80)) : byte();
      return block;
    default:
      block.shared_exponent = uint8_t(7 + rng() % 248);
      for (uint8_t& v : block.values) v = byte();
      return block;
  }
}

// One reduction block of `lanes` lanes, planar as the decoders read it, and the pairs that
// decode_bfp8_bf16 gives for it.
struct PlanarBlocks {
  std::vector<uint8_t> exponents, values;
  std::vector<uint32_t> expected;
  explicit PlanarBlocks(const std::vector<BlockBfp8>& blocks) {
    const int lanes = int(blocks.size());
    exponents.resize(lanes);
    values.resize(size_t(lanes) * kKBlock);
    expected.resize(size_t(lanes) * kPairs);
    for (int lane = 0; lane < lanes; ++lane) {
      exponents[lane] = blocks[lane].shared_exponent;
      uint16_t bf16[kKBlock];
      decode_bfp8_bf16(blocks[lane], bf16);
      for (int i = 0; i < kKBlock; ++i)
        values[(size_t(i / 2) * lanes + lane) * 2 + i % 2] = blocks[lane].values[i];
      for (int j = 0; j < kPairs; ++j) {
        expected[size_t(j) * lanes + lane] = uint32_t(bf16[2 * j]) | uint32_t(bf16[2 * j + 1])
                                                                         << 16;
      }
    }
  }
};

class Bfp8DecodeKernelTest : public ::testing::TestWithParam<Isa> {};

TEST_P(Bfp8DecodeKernelTest, MatchesScalarDecodeBitExactly) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const kernels::Bfp8PairsDecodeFn decode = kernels::kernel_table(isa).bfp8_decode_pairs;
  const kernels::Bfp8F32DecodeFn decode_f32 = kernels::kernel_table(isa).bfp8_decode_f32;
  ASSERT_NE(decode, nullptr);
  ASSERT_NE(decode_f32, nullptr);
  std::mt19937 rng(41);
  for (int lanes : {8, 16, 24, 32, 40, 64}) {
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<BlockBfp8> blocks;
      for (int lane = 0; lane < lanes; ++lane) {
        const bool scalar_only = isa == Isa::kScalar && rng() % 4 == 0;
        blocks.push_back(
            random_block(rng, scalar_only ? BlockKind::kScalarOnly : BlockKind::kCovered));
        ASSERT_EQ(kernels::bfp8_vector_decode_exact(blocks.back()), !scalar_only);
      }
      const PlanarBlocks planar(blocks);
      // A guard past the end shows any write beyond the block.
      constexpr uint32_t kGuard = 0xdeadbeef;
      std::vector<uint32_t> dst(size_t(lanes) * kPairs + 16, kGuard);
      decode(planar.exponents.data(), planar.values.data(), lanes, dst.data());
      for (size_t i = 0; i < planar.expected.size(); ++i) {
        const int lane = int(i % lanes);
        ASSERT_EQ(dst[i], planar.expected[i])
            << to_string(isa) << " lanes " << lanes << " pair " << i / lanes << " lane " << lane
            << " exponent " << int(blocks[lane].shared_exponent);
      }
      for (size_t i = planar.expected.size(); i < dst.size(); ++i) ASSERT_EQ(dst[i], kGuard);

      // The one-pass decoder to fp32 operands: each pair's values, widened, at rows 2j, 2j + 1.
      std::vector<uint32_t> f32_bits(size_t(lanes) * kKBlock + 16, kGuard);
      decode_f32(planar.exponents.data(), planar.values.data(), lanes,
                 reinterpret_cast<float*>(f32_bits.data()));
      for (size_t i = 0; i < planar.expected.size(); ++i) {
        const size_t j = i / lanes, lane = i % lanes;
        ASSERT_EQ(f32_bits[2 * j * lanes + lane], planar.expected[i] << 16)
            << to_string(isa) << " lanes " << lanes << " even value of pair " << j;
        ASSERT_EQ(f32_bits[(2 * j + 1) * lanes + lane], planar.expected[i] & 0xffff0000u)
            << to_string(isa) << " lanes " << lanes << " odd value of pair " << j;
      }
      for (size_t i = size_t(lanes) * kKBlock; i < f32_bits.size(); ++i) {
        ASSERT_EQ(f32_bits[i], kGuard);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, Bfp8DecodeKernelTest,
                         ::testing::Values(Isa::kAvx512, Isa::kAvx2, Isa::kScalar),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(Bfp8DecodeKernel, VectorRangeIsExponents7To254OrZeroBlocks) {
  BlockBfp8 block;
  for (int e : {0, 1, 6, 255}) {
    block.shared_exponent = uint8_t(e);
    block.values[5] = 0;
    EXPECT_TRUE(kernels::bfp8_vector_decode_exact(block)) << e;
    block.values[5] = 0x80;  // a signed zero is -0 below e = 7 but +0 in the fast path
    EXPECT_FALSE(kernels::bfp8_vector_decode_exact(block)) << e;
  }
  for (int e : {7, 100, 254}) {
    block.shared_exponent = uint8_t(e);
    block.values[5] = 0xff;
    EXPECT_TRUE(kernels::bfp8_vector_decode_exact(block)) << e;
  }
}

// Packed conv weights in bfloat8_b, resident as blocks or as their bf16 values: every chunk, in
// each kernel's operand layout, holds exactly the decode_bfp8_bf16 values of the blocks
// encode_bfp8 made, including tensors whose tiny or huge weights need the exact scalar decoder.
class PackedBfp8WeightsTest : public ::testing::TestWithParam<Isa> {};

TEST_P(PackedBfp8WeightsTest, ChunksHoldTheDecodedBlocks) {
  const Isa isa = GetParam();
  if (!isa_supported(isa)) GTEST_SKIP() << to_string(isa) << " not supported on this CPU";
  const kernels::KernelTable& table = kernels::kernel_table(isa);
  constexpr int kInChannels = 40;
  for (const kernels::ConvKernel* kernel :
       {&table.conv_hifi4, &table.conv_lofi, &table.conv_lofi_decoded, &table.conv_lofi_exact}) {
    ReductionLayout layout;
    layout.in_channels = kInChannels;
    layout.kernel = 1;
    layout.channels_per_tap = 48;
    layout.kblocks = 3;
    layout.panels = 2;
    const int out_channels = kernel->nr + 5;  // the last panel is mostly zero blocks
    // Normal weights; one channel so small its blocks' exponents are 1..6; one near FLT_MAX,
    // whose block rounds up to exponent 255.
    for (const float odd_scale : {1.0f, std::ldexp(1.0f, -120), FLT_MAX}) {
      auto weight = testing::random_vector(size_t(out_channels) * kInChannels, 51, -0.5f, 0.5f);
      for (int c = 0; c < kInChannels; ++c) weight[size_t(3) * kInChannels + c] *= odd_scale;
      if (odd_scale == FLT_MAX) weight[size_t(3) * kInChannels + 17] = FLT_MAX;
      // Resident as blocks, or as their bf16 values: the same numbers either way.
      for (const DataType resident : {DataType::BFLOAT8_B, DataType::BFLOAT16}) {
        const PackedConvWeights packed(weight, out_channels, layout, *kernel, DataType::BFLOAT8_B,
                                       resident);
        ASSERT_EQ(packed.is_block_format(), resident == DataType::BFLOAT8_B);
        EXPECT_EQ(packed.resident_bytes(),
                  resident == DataType::BFLOAT8_B
                      ? size_t(layout.panels) * layout.kblocks * kernel->nr * sizeof(BlockBfp8)
                      : size_t(layout.panels) * layout.k_total() * kernel->nr *
                            // fp32 only where pairs are swapped into VDPBF16PS's order
                            (kernel->bf16_operands == kernels::Bf16Operands::kPairOrder
                                 ? sizeof(float)
                                 : sizeof(uint16_t)));

        // What each (panel, lane, k) must hold, as bf16 bits.
        const int nr = kernel->nr, k_total = layout.k_total();
        std::vector<uint16_t> expected(size_t(layout.panels) * nr * k_total, 0);
        for (int o = 0; o < out_channels; ++o) {
          std::vector<float> row(k_total, 0.0f);
          std::copy_n(&weight[size_t(o) * kInChannels], kInChannels, row.begin());
          for (int kb = 0; kb < layout.kblocks; ++kb) {
            decode_bfp8_bf16(encode_bfp8(&row[kb * kKBlock]),
                             &expected[size_t(o) * k_total + kb * kKBlock]);
          }
        }
        auto check = [&](const void* chunk, int panel, int kb0, int kb1) {
          for (int lane = 0; lane < nr; ++lane) {
            for (int k = 0; k < (kb1 - kb0) * kKBlock; ++k) {
              const uint16_t want =
                  expected[size_t(panel * nr + lane) * k_total + kb0 * kKBlock + k];
              uint16_t got;
              if (kernel->operands == kernels::OperandFormat::kBf16Pairs ||
                  kernel->bf16_pair_weights) {
                got = static_cast<const uint16_t*>(chunk)[(size_t(k / 2) * nr + lane) * 2 + k % 2];
              } else {
                const int position =
                    kernel->bf16_operands == kernels::Bf16Operands::kPairOrder ? k ^ 1 : k;
                const float value = static_cast<const float*>(chunk)[size_t(position) * nr + lane];
                got = to_bfloat16(value).bits;
                ASSERT_EQ(to_float(bfloat16{got}), value);
              }
              ASSERT_EQ(got, want)
                  << kernel->name << " resident " << to_string(resident) << " scale " << odd_scale
                  << " panel " << panel << " lane " << lane << " k " << kb0 * kKBlock + k;
            }
          }
        };
        AlignedVector<float> scratch;
        for (int panel = 0; panel < layout.panels; ++panel) {
          const void* whole_panel = packed.chunk(panel, 0, layout.kblocks, scratch);
          // The kernels load whole vectors from it: it starts on a cache line.
          EXPECT_EQ(reinterpret_cast<uintptr_t>(whole_panel) % kCacheLineBytes, 0u);
          check(whole_panel, panel, 0, layout.kblocks);
          check(packed.chunk(panel, 1, 3, scratch), panel, 1, 3);
        }
        if (!packed.decoded_per_chunk()) continue;
        packed.decode_panels(0, layout.panels, scratch);
        for (int panel = 0; panel < layout.panels; ++panel) {
          check(packed.chunk_of(scratch, panel, 2), panel, 2, 3);
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllIsas, PackedBfp8WeightsTest,
                         ::testing::Values(Isa::kAvx512, Isa::kAvx2, Isa::kScalar),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace yolo4
