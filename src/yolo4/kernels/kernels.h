// The micro-kernel contracts and the one dispatch point that picks them per ISA.
// Names state operands, tile and ISA as XNNPACK's do: f32_conv_12x32__avx512.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "yolo4/core/activation.h"
#include "yolo4/core/cpu_features.h"
#include "yolo4/core/dtype.h"

namespace yolo4::kernels {

// Packed operands share one reduction order: blocks of kKBlock values.
inline constexpr int kKBlock = 16;
static_assert(kKBlock == BlockBfp8::kValues, "a bfloat8_b block is one reduction block");

// How a conv kernel wants its packed operands.
//  kF32:        A [kblocks][MR][16] floats, W [k][NR] floats.
//  kBf16Pairs:  A [kblocks][MR][16] bfloat16 (8 pairs), W [k/2][NR][2] bfloat16, for
//               VDPBF16PS: each step multiplies a broadcast pair of A with NR pairs of W.
enum class OperandFormat { kF32, kBf16Pairs };

// How a kF32 kernel runs LoFi (bf16 x bf16 products, exact in fp32) on CPUs without VDPBF16PS.
enum class Bf16Operands {
  kNone,       // HiFi4: the operands as given
  kWidened,    // bf16 values, kept compressed: activations widened to fp32 where packed, the
               // weights read as bf16 pairs and widened in registers (bf16_pair_weights); the
               // kernel sums in its own order (the fast path)
  kPairOrder,  // bf16 values, each reduction pair packed odd element first: VDPBF16PS's exact
               // order (slow; for tests that compare with the native kernel)
};

// Bytes per packed operand element: a float, or one bfloat16 of a pair.
inline constexpr size_t operand_bytes(OperandFormat operands) {
  return operands == OperandFormat::kBf16Pairs ? 2 : 4;
}

// The narrow convs a kernel reads in place (ConvKernel::window): kWindowKernel x kWindowKernel
// on kWindowChannels channels (the RGB stem), stride 1 up to kWindowStrides.
inline constexpr int kWindowChannels = 3;
inline constexpr int kWindowKernel = 3;
inline constexpr int kWindowStrides = 2;
// The values of one kernel row of the window (taps x channels) a kernel reads per outer step; a
// kernel on bf16 pairs reads whole pairs, so its rows take one value more, which meets a zero
// weight (ReductionLayout::row_values).
inline constexpr int kWindowRowValues = kWindowKernel * kWindowChannels;
inline constexpr int kWindowPairRowValues = (kWindowRowValues + 1) / 2 * 2;

// One MR x NR output tile of a convolution viewed as a GEMM over packed operands.
struct ConvTile {
  const void* a = nullptr;  // packed activations
  const void* w = nullptr;  // packed weights
  // The weights of the GEMM that runs next (as many bytes as w's), fetched into cache at the pace
  // these are read so that their memory traffic overlaps this GEMM's arithmetic; null: the kernel
  // fetches its own weights kPrefetchBytes ahead.
  const void* w_next = nullptr;
  int kblocks = 0;
  // [NR]; added unless accumulating. Null: the tile's bare sums (Winograd's GEMMs, finalize
  // false), stored straight from the registers where the tile is whole (store_sums_or_tile).
  const float* bias = nullptr;
  void* out = nullptr;  // float or bfloat16 (ConvKernel::run[out_bf16]); row m at m * out_stride
  int64_t out_stride = 0;
  // Valid rows (<= MR; MR + 1 for ConvKernel::run_tall); packed rows beyond are zeros and not
  // stored.
  int rows = 0;
  int columns = 0;  // valid columns (<= NR)
  // Output channels among them (may be < 1): the columns past it are a TILE output's padding,
  // stored as zeros.
  int channels = 0;
  bool accumulate = false;         // add the partial sums of earlier reduction chunks, not the bias
  const float* partial = nullptr;  // those partial sums (fp32 whatever out's dtype)
  int64_t partial_stride = 0;
  bool finalize = true;  // apply the activation and the residual (the last chunk)
  Activation activation = Activation::kNone;
  const void* residual = nullptr;  // same dtype as out; added after the activation
  int64_t residual_stride = 0;
  // ConvKernel::window only: the elements between the kernel rows of the window at a.
  int64_t window_row_stride = 0;
  // ConvKernel::in_place only: the elements between consecutive rows (output pixels) at a.
  int64_t a_row_stride = 0;
};

using ConvTileFn = void (*)(const ConvTile& tile);

// Winograd F(m x m, 3x3): the output tile side m, or none (direct). Stride 1: each m x m output
// tile comes from an (m + 2) x (m + 2) input tile. Stride 2 (S2), by polyphase: each m x m output
// tile comes from a (2m + 1) x (2m + 1) input tile whose even samples go through F(m, 2) with taps
// (g0, g2) and odd samples meet g1 directly, per axis; the 2m + 1 products per axis are 5 for F(2)
// (the direct conv's 6) and 9 for F(4) (12).
enum class WinogradTile : uint8_t { kNone, kF2x2, kF4x4, kF6x6, kF2x2S2, kF4x4S2 };
inline constexpr int kWinogradTiles = 5;  // the tiles the kernels implement, all but kNone
inline constexpr int winograd_stride(WinogradTile t) {
  return t == WinogradTile::kF2x2S2 || t == WinogradTile::kF4x4S2 ? 2 : 1;
}
inline constexpr int winograd_side(WinogradTile t) {
  switch (t) {
    case WinogradTile::kF2x2:
    case WinogradTile::kF2x2S2:
      return 2;
    case WinogradTile::kF4x4:
    case WinogradTile::kF4x4S2:
      return 4;
    case WinogradTile::kF6x6:
      return 6;
    case WinogradTile::kNone:
      break;
  }
  return 0;
}
// The input tile's side, which is also the transformed tile's (the positions per axis).
inline constexpr int winograd_input_side(WinogradTile t) {
  return winograd_stride(t) == 1 ? winograd_side(t) + 2 : 2 * winograd_side(t) + 1;
}
inline constexpr int winograd_positions(WinogradTile t) {
  return winograd_input_side(t) * winograd_input_side(t);
}
inline constexpr int winograd_index(WinogradTile t) {
  return int(t) - 1;
}
// Stride 2's odd positions all multiply by the same tap (g1) per axis, so positions share
// transformed weights: per axis the m + 1 even positions and one class for the odd ones.
inline constexpr int winograd_weight_classes_per_axis(WinogradTile t) {
  return winograd_stride(t) == 1 ? winograd_input_side(t) : winograd_side(t) + 2;
}
// The distinct transformed weight matrices, and the one position p uses.
inline constexpr int winograd_weight_matrices(WinogradTile t) {
  return winograd_weight_classes_per_axis(t) * winograd_weight_classes_per_axis(t);
}
inline constexpr int winograd_weight_of(WinogradTile t, int p) {
  const int side = winograd_input_side(t), classes = winograd_weight_classes_per_axis(t);
  const int i = p / side, j = p % side;
  return std::min(i, classes - 1) * classes + std::min(j, classes - 1);
}
inline constexpr int kWinogradInputSideMax = winograd_input_side(WinogradTile::kF4x4S2);
inline constexpr int kWinogradPositionsMax = winograd_positions(WinogradTile::kF4x4S2);
inline constexpr const char* to_string(WinogradTile t) {
  switch (t) {
    case WinogradTile::kNone:
      return "direct";
    case WinogradTile::kF2x2:
      return "F(2x2,3x3)";
    case WinogradTile::kF4x4:
      return "F(4x4,3x3)";
    case WinogradTile::kF6x6:
      return "F(6x6,3x3)";
    case WinogradTile::kF2x2S2:
      return "F(2x2,3x3) stride 2";
    case WinogradTile::kF4x4S2:
      return "F(4x4,3x3) stride 2";
  }
  return "?";
}

// The input transform B^T d B of one input tile (side s, winograd_input_side), one block of kKBlock
// channels: src[i * s + j] points at pixel (i, j)'s block (float or bfloat16 storage), or is
// null outside the image; channels from `valid` on read as zero. Position p's kKBlock operands
// (float or bfloat16) go to dst + p * dst_stride elements.
using WinogradInputFn = void (*)(const void* const* src, int valid, void* dst, int64_t dst_stride);
// The output transform A^T M A for `columns` (a multiple of the vector width): position p's row
// at mm + p * m_stride, the m x m results to y as [m * m][columns].
using WinogradOutputFn = void (*)(const float* mm, int64_t m_stride, int columns, float* y);

// Decodes one reduction block of resident bfloat8_b weights for `lanes` output channels (a
// multiple of 8), stored planar as in a Tenstorrent tile: exponents[lanes], then the value bytes
// already in pair order, values[kKBlock / 2][lanes][2]. Writes the bf16 pairs
// dst[j * lanes + lane] = bf16(value 2j) | bf16(value 2j + 1) << 16, equal to decode_bfp8_bf16.
// The vector decoders are exact only for blocks where bfp8_vector_decode_exact() holds; the
// scalar one for every block.
using Bfp8PairsDecodeFn = void (*)(const uint8_t* exponents, const uint8_t* values, int lanes,
                                   uint32_t* dst);

// The same blocks straight to kF32 operands dst[k * lanes + lane], k < kKBlock: the values
// decode_bfp8_bf16 gives, widened to fp32 (exact), in one pass. Exact where the pairs decoder is.
using Bfp8F32DecodeFn = void (*)(const uint8_t* exponents, const uint8_t* values, int lanes,
                                 float* dst);

// Widens `pair_rows` rows of bf16 pairs for `lanes` output channels (a multiple of the vector
// width), pairs[j * lanes + lane] = bf16(k = 2j) | bf16(k = 2j + 1) << 16, to kF32 weight
// operands dst[k * lanes + lane]. Exact.
using Bf16PairsWidenFn = void (*)(const uint32_t* pairs, int lanes, int pair_rows, float* dst);

// The vector decoders compute m x 2^(e - 133) in fp32: exact while that scale is a normal float
// and the product cannot overflow (7 <= e <= 254); outside that, only all-zero blocks.
inline bool bfp8_vector_decode_exact(const BlockBfp8& block) {
  if (block.shared_exponent >= 7 && block.shared_exponent <= 254) return true;
  for (uint8_t value : block.values) {
    if (value != 0) return false;
  }
  return true;
}

// Cache blocking for a conv kernel, sized to the L2 of the CPUs that run its ISA: data that
// conv2d's strategy reads, not branches on the ISA.
struct ConvBlocking {
  int act_block_bytes;          // packed activations of one reduction chunk, kept in L2 across
                                // the weight panels
  int act_block_bytes_decoded;  // the same when weights are decoded (or widened) per chunk:
                                // bigger blocks, fewer decodes
  int chunk_kblocks_max;        // reduction blocks per pass
  int decode_once_bytes;        // decoded weights a core keeps rather than decoding per block
  int winograd_block_bytes;     // Winograd's transformed input, all positions of a block
  // The same where the weights are what streams (decoded or widened per block, or larger than
  // the input they meet): big blocks, in L3, so that each weight panel is fetched fewer times.
  int winograd_block_bytes_streamed;
  // There, the sums (every position's) of the MR-rows that meet a weight panel in turn.
  int winograd_sums_bytes;
};
// 1 MB of L2 or more a core (Zen 4/5, Sapphire Rapids): measured on Zen 5 (docs/perf.md).
// Streamed Winograd weights: 2 MB blocks and 512 KB of sums; measured on Zen 5 in the network,
// fp32 3x3 512->1024 at 10x10 as F(2x2) 0.75x the direct conv's time, 512->512 0.76-0.83x the
// L2-sized block's, 256->256 at 20x20 (F(4x4)) 0.78-0.93x; decoded weights: 512->512 and
// 512->1024 at 10x10 0.65-0.8x.
inline constexpr ConvBlocking kBlockingL2Of1MB{192 * 1024, 1024 * 1024, 32,        1 << 20,
                                               512 * 1024, 2 << 20,     512 * 1024};
// 512 KB of L2 (Zen 2/3; Intel client cores have 256 KB-1.25 MB): half the footprints, so that
// a block and the weights it meets stay in L2; the sums of a group a quarter of it.
inline constexpr ConvBlocking kBlockingL2Of512KB{128 * 1024, 384 * 1024, 32,        256 * 1024,
                                                 256 * 1024, 2 << 20,    128 * 1024};

// The tallest tile a conv kernel has (MR: AMX's two tiles of 16 rows), and the step of the
// shorter kernels a register kernel may have for the last, partial tile of a conv's rows.
inline constexpr int kMrMax = 32;
inline constexpr int kRowStep = 2;
// A register kernel of up to this many rows (AVX2's 6, the scalar 4) has a shorter kernel for
// every row count, so that a GEMM of few rows can split them evenly (ConvKernel::tile_fill).
inline constexpr int kEveryRowMrMax = 8;
inline constexpr int register_row_step(int mr) {
  return mr <= kEveryRowMrMax ? 1 : kRowStep;
}

// Run by each core before it runs a kernel's tiles in an op (AMX: loads the tile configuration,
// about 120 ns, too slow for every tile and lost if other code in the thread uses AMX between ops).
using ConvPrepareFn = void (*)();

// A conv kernel's micro-kernels on one operand layout, by the rows of the tile they compute.
struct TileKernels {
  ConvTileFn run[2] = {nullptr, nullptr};  // [0]: float output, [1]: bfloat16 output
  // The same kernel computing only the first row_step (i + 1) rows of its MR-row tile (null
  // where it has none): a conv's last tile is often mostly rows of zeros.
  ConvTileFn run_rows[kMrMax / kRowStep][2] = {};
  // The rows the shorter variants step by: register_row_step(MR) for kernels whose rows are
  // registers, a tile of 16 rows for AMX's, which cost the same whatever rows of a tile are valid.
  int row_step = kRowStep;
  // The same kernel on its tile's first row alone (null where it has none): where no tall kernel
  // fits the registers, 49 Winograd tiles (F(6x6) on a 40x40 map) leave AVX2's 6-row kernel a
  // last tile of one row, which the 2-row kernel ran at under a third of the FMA peak.
  ConvTileFn run_row[2] = {nullptr, nullptr};
  // The same kernel on MR + 1 rows (null where its accumulators would not fit the registers):
  // a full tile and the first row of the packed tile after it, so that a conv whose last tile
  // would hold one row runs it with the tile before (25 Winograd tiles on a 10x10 map are 12 + 13
  // rows, not 12 + 12 + 1 on a 2-row kernel at half its speed).
  ConvTileFn run_tall[2] = {nullptr, nullptr};
};

// Runs `iterations` steps of independent chains of a kernel's products (throughput-bound: more
// chains than a core has in flight) and returns a value that depends on all of them; each step is
// the kernel's product_flops_per_step FLOPs. The perf sheet's peaks are measured with it.
using ProductLoopFn = float (*)(int64_t iterations);

// Its TileKernels read packed operands: the im2col copy conv2d makes, MR rows side by side.
struct ConvKernel : TileKernels {
  // The same kernels reading a pointwise conv's input in place, t.a_row_stride elements a row
  // (null where the kernel has none): a 1x1 conv of stride 1 over whole blocks of channels in
  // in_place_input()'s format needs no copy.
  TileKernels in_place;
  // What `in_place` reads: the operands' own format, or bf16 values (kBf16Pairs) for a kF32
  // kernel on widened operands, which widens each as it broadcasts it.
  OperandFormat in_place_input() const {
    return bf16_operands == Bf16Operands::kWidened ? OperandFormat::kBf16Pairs : operands;
  }
  // The rows the tile `remaining` rows before the end of a conv runs, its tiles holding `fill`
  // rows (tile_fill): MR + 1 where the tile after it is packed next to it (`next_follows`), is
  // the last and holds one row, and the kernel has run_tall; else up to `fill`.
  int tile_rows(int64_t remaining, bool next_follows, int fill) const {
    if (fill == mr && remaining == mr + 1 && next_follows && run_tall[0]) return mr + 1;
    return int(remaining < fill ? remaining : fill);
  }
  // The rows each tile of a GEMM of `rows` rows holds, every tile but the last full: MR, or
  // where the last would hold few and no tall kernel takes it, the even split's, where a kernel
  // computes exactly that many. 25 Winograd tiles on a 10x10 or 20x20 map run on AVX2's 6-row
  // kernel as 5 x 5, not 6 + 6 + 6 + 6 + 1 (whose 1-row tile took 11% of the GEMMs' time).
  int tile_fill(int64_t rows) const {
    const int64_t tiles = (rows + mr - 1) / mr;
    const int even = int((rows + tiles - 1) / tiles);
    if (even == mr || (rows % mr == 1 && run_tall[0])) return mr;
    return even % row_step == 0 && run_rows[(even - 1) / row_step][0] ? even : mr;
  }
  // The kernel for a tile of `rows` valid rows: the shortest that covers them, on packed
  // operands or (`in_place`) on a pointwise conv's input.
  ConvTileFn for_rows(int rows, bool bf16_out, bool reads_in_place = false) const {
    const TileKernels& set = reads_in_place ? in_place : *this;
    if (rows > mr) return set.run_tall[bf16_out];
    if (rows == 1 && set.run_row[bf16_out]) return set.run_row[bf16_out];
    const ConvTileFn shorter = rows < mr ? set.run_rows[(rows - 1) / row_step][bf16_out] : nullptr;
    return shorter ? shorter : set.run[bf16_out];
  }
  // The kernel on a narrow conv's input in place, without packing ([stride - 1][bf16_out]; null
  // where it has none): MR output pixels side by side in one output row, stored up to t.rows.
  // t.a is row 0's window's first value in a zero-padded copy of the input (kWindowChannels
  // values a pixel; float, or bf16 for a kernel on kBf16Pairs operands, whose last pair reads one
  // value past a window row), t.kblocks the window's kWindowKernel rows, t.window_row_stride the
  // elements between them; t.w the packed weights of the reduction order
  // k = ky * row_values + kx * C + c (row_values: kWindowRowValues, kWindowPairRowValues).
  ConvTileFn window[kWindowStrides][2] = {};
  ConvPrepareFn prepare = nullptr;  // null: nothing to prepare
  void prepare_core() const {
    if (prepare) prepare();
  }
  // The fused epilogue alone, on a last chunk's sums computed elsewhere (Winograd's output
  // transform): t.a is float [t.rows][NR], aligned to the vector, t.bias [NR] is added to it, and
  // the activation and residual follow; [0]/[1] as for run.
  ConvTileFn epilogue[2] = {nullptr, nullptr};
  // Winograd transforms into this kernel's operand type, [winograd_index][input is bfloat16];
  // with bf16 operands on a kF32 kernel they round their output to bf16 (kPairOrder pair-swaps
  // it after).
  WinogradInputFn winograd_input[kWinogradTiles][2] = {};
  WinogradOutputFn winograd_output[kWinogradTiles] = {};
  int mr = 0;
  int nr = 0;
  OperandFormat operands = OperandFormat::kF32;
  Bf16Operands bf16_operands = Bf16Operands::kNone;
  // A kF32 kernel that reads W as bf16 pairs [k/2][NR][2] (kBf16Pairs' weight layout) and widens
  // them in registers: resident bf16 weights reach it without a widened copy.
  bool bf16_pair_weights = false;
  // Decodes resident bfloat8_b weights, block by block, before they reach this kernel: to bf16
  // pairs, or (kF32 kernels on widened operands) straight to fp32.
  Bfp8PairsDecodeFn bfp8_decode_pairs = nullptr;
  Bfp8F32DecodeFn bfp8_decode_f32 = nullptr;
  // kF32 kernels: widens resident bf16 weights (or decoded bfloat8_b ones) to the operands.
  Bf16PairsWidenFn widen_bf16_pairs = nullptr;
  ConvBlocking blocking = kBlockingL2Of1MB;
  // Its products at their peak, for the perf sheet's utilisation (null where not measured: AMX's
  // tiles, whose products need a tile configuration of their own).
  ProductLoopFn product_loop = nullptr;
  int product_flops_per_step = 0;
  const char* name = "";
};

// One output row of a depthwise-style convolution, all channels: for output pixel x and
// channel o,
//   sum over taps (ky, kx) and planes d < planes of
//     in_rows[ky][ix * in_pixel_stride + d * plane_stride + o] * weights[(tap * planes + d) *
//     weight_stride + o],  ix = x * stride - padding + kx, tap = ky * kernel + kx,
// zero where ix is outside [0, in_width) or in_rows[ky] is null (outside the image), then the
// fused epilogue of `tile`. A depthwise conv has one plane, the input itself; a general grouped
// conv reads planes gathered so that plane d holds each output channel's d-th input channel.
// Input channels from in_channels on read as zero (a slice's neighbours are never read).
struct DepthwiseRow {
  const void* const* in_rows = nullptr;  // [kernel]: pixel 0 of input row ky, float or bfloat16
  int in_width = 0;
  int64_t in_pixel_stride = 0, plane_stride = 0;
  int planes = 1;
  int in_channels = 0;
  int kernel = 1, stride = 1, padding = 0;
  const float* weights = nullptr;  // weight_stride a multiple of 16, covering tile.columns
  int64_t weight_stride = 0;
  int out_width = 0;
  // The epilogue of pixel 0: out, out_stride (between pixels), bias [columns], columns (output
  // channels written, with a TILE output's padding), channels, activation, residual and its
  // stride. rows, a, w, kblocks and accumulate are unused.
  ConvTile tile;
};
using DepthwiseRowFn = void (*)(const DepthwiseRow& row);
// How a depthwise kernel reads its input: float, float rounded to bfloat16 (LoFi's operands),
// or bfloat16.
enum DepthwiseInput { kDepthwiseF32, kDepthwiseF32AsBf16, kDepthwiseBf16, kDepthwiseInputs };

// out[i] = activation(in[i]) for n values.
using F32UnaryFn = void (*)(const float* in, float* out, int64_t n, Activation activation);
// out[i] = a[i] + b[i].
using F32AddFn = void (*)(const float* a, const float* b, float* out, int64_t n);
// dst[i] = src[i] > dst[i] ? src[i] : dst[i] for n values, as maxps orders it (NaNs and ties keep
// dst): float or bfloat16 (exact, compared as floats).
using MaxIntoFn = void (*)(void* dst, const void* src, int64_t n);

struct KernelTable {
  Isa isa;
  ConvKernel conv_hifi4;  // fp32 products, fp32 accumulation
  ConvKernel conv_lofi;   // bf16 x bf16 products, fp32 accumulation
  // LoFi on resident bfloat8_b blocks (Conv2dConfig::compact_weights), decoded block by block:
  // without VDPBF16PS straight to fp32 for a kernel reading fp32 weights (widening the decoded
  // pairs in registers, use after use, measured 1.2x slower in the network with AVX2's kernels).
  ConvKernel conv_lofi_decoded;
  // LoFi summed in VDPBF16PS's exact order: native where the CPU has it, else emulated (slow).
  ConvKernel conv_lofi_exact;
  // LoFi on fp32 FMAs of widened bf16 operands with fp32 weights, on every CPU (not replaced by
  // VDPBF16PS or AMX): its ConvKernel::window reads an RGB stem's input in place where
  // conv_lofi's has none.
  ConvKernel conv_lofi_window;
  F32UnaryFn f32_activation;
  F32AddFn f32_add;
  MaxIntoFn max_into[2];  // [0]: float, [1]: bfloat16
  Bfp8PairsDecodeFn bfp8_decode_pairs;
  Bfp8F32DecodeFn bfp8_decode_f32;
  DepthwiseRowFn depthwise_row[kDepthwiseInputs][2];  // [input][output is bfloat16]
};

// The kernels for an ISA; throws if this CPU cannot run it.
const KernelTable& kernel_table(Isa isa);

// Whether `isa`'s LoFi kernel multiplies bf16 pairs natively (VDPBF16PS, or AMX's TDPBF16PS) on
// this CPU; elsewhere LoFi's products are fp32 FMAs on widened operands, costing what HiFi4's do.
bool native_bf16_products(Isa isa);
// Whether that kernel runs on AMX tiles.
bool amx_bf16_products(Isa isa);

}  // namespace yolo4::kernels
