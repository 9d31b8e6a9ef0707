#include "yolo4/ops/conv2d.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "yolo4/core/aligned_vector.h"
#include "yolo4/core/error.h"
#include "yolo4/core/share_queue.h"
#include "yolo4/ops/conv2d_operands.h"
#include "yolo4/ops/conv2d_winograd.h"

namespace yolo4 {

using conv_operands::ceil_div;
using conv_operands::convert_block;
using kernels::kKBlock;
using kernels::operand_bytes;

namespace {

constexpr int round_up(int value, int multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// Blocks of its own at least that a core's share of pixels is split into, where the cores split
// only the pixels.
constexpr int kMinStealableBlocks = 4;

// The report's rule: many more pixels than channels shard by height, many more channels than
// pixels by width, comparable ones by block.
TensorMemoryLayout report_rule(int64_t pixels, int channels, std::string_view& reason) {
  if (pixels >= 4 * int64_t(channels)) {
    reason = "N*H*W >> C";
    return TensorMemoryLayout::HEIGHT_SHARDED;
  }
  if (channels >= 4 * pixels) {
    reason = "C >> N*H*W";
    return TensorMemoryLayout::WIDTH_SHARDED;
  }
  reason = "N*H*W ~ C";
  return TensorMemoryLayout::BLOCK_SHARDED;
}

constexpr int kMaxTaps = kMaxConvKernel * kMaxConvKernel;
// A narrow input (fewer than kKBlock channels) packs all taps of a pixel into one row.
constexpr int kNarrowRowMax = round_up((kKBlock - 1) * kMaxTaps, kKBlock);

// Geometry of one run, shared by the packing and the tiling.
struct ConvGeometry {
  Shape in, out;
  int kernel, stride, padding;
  int channels_per_tap;  // the packed reduction order: k = tap * channels_per_tap + c
  int kblocks;
  const void* input;
  int64_t in_pixel_stride;
  bool in_tile;  // TILE layout: every pixel holds whole blocks of kKBlock channels
};

// How far ahead of each block it copies the packing prefetches the input: the rows of a
// large map stream from L3 or memory faster than the hardware prefetcher brings them (Zen 5,
// 2 threads: AVX-512 fp32 0.96x the network's time, the 320x320 and 160x160 convs 0.8-0.9x;
// 1-4 KB measured alike, docs/perf.md).
constexpr int kPackPrefetchBytes = 2048;

// A narrow TILE input's taps into `row`, C values apart, each copied as N values (N >= C).
template <int N, class Src>
void gather_tile_taps(const Src* const* tap_source, int taps, int c_in, Src* row) {
  for (int tap = 0; tap < taps; ++tap) {
    if (tap_source[tap]) {
      std::memcpy(row + tap * c_in, tap_source[tap], sizeof(Src) * N);
    } else {
      std::fill_n(row + tap * c_in, N, Src{});
    }
  }
}

// Writes one im2col row (one output pixel, reduction blocks [kb0, kb1)) into the packed tile,
// whose blocks for consecutive kb are mr * 16 elements apart.
template <class Src, class Dst>
void pack_row(const ConvGeometry& g, const Src* const* tap_source, int kb0, int kb1, int mr,
              conv_operands::OperandRounding rounding, Dst* dst) {
  const int taps = g.kernel * g.kernel;
  if (g.channels_per_tap % kKBlock == 0) {  // wide input: whole blocks from one pixel
    int kb = 0;
    for (int tap = 0; tap < taps && kb < kb1; ++tap) {
      const Src* src = tap_source[tap];
      for (int c = 0; c < g.channels_per_tap; c += kKBlock, ++kb) {
        if (kb < kb0) continue;
        if (kb >= kb1) break;
        const int valid = src ? std::clamp(g.in.c - c, 0, kKBlock) : 0;
        if (src) prefetch_ahead(src + c, kPackPrefetchBytes);
        convert_block(src ? src + c : nullptr, valid, dst, rounding);
        dst += mr * kKBlock;
      }
    }
    return;
  }
  // Narrow input (RGB): taps back to back, k = tap * C + c, gathered into one row and then
  // converted block by block; the strategy gives narrow convs a single reduction chunk, so
  // kb0 == 0 here. A TILE input holds kKBlock values per pixel, so each tap is a fixed-size
  // copy of the fewest of 4, 8 or 16 values that cover C: its values past C land where the next
  // tap's copy overwrites them, and past the last tap they are cleared.
  const int c_in = g.in.c;
  Src row[kNarrowRowMax + kKBlock];
  if (g.in_tile) {
    if (c_in <= 4) {
      gather_tile_taps<4>(tap_source, taps, c_in, row);
    } else if (c_in <= 8) {
      gather_tile_taps<8>(tap_source, taps, c_in, row);
    } else {
      gather_tile_taps<kKBlock>(tap_source, taps, c_in, row);
    }
    std::fill(row + taps * c_in, row + kb1 * kKBlock, Src{});
  } else {
    std::fill_n(row, kb1 * kKBlock, Src{});
    for (int tap = 0; tap < taps; ++tap) {
      if (tap_source[tap]) std::copy_n(tap_source[tap], c_in, row + tap * c_in);
    }
  }
  for (int kb = kb0; kb < kb1; ++kb) {
    convert_block(row + kb * kKBlock, kKBlock, dst + (kb - kb0) * mr * kKBlock, rounding);
  }
}

// The input pixel of each tap of image n's window with top-left pixel (iy0, ix0), null for a tap
// in the padding. A window inside the image takes fixed offsets from its top-left pixel: no
// bounds checks for most pixels (the RGB stem's packing 0.85-0.9x).
template <class Src>
void locate_taps(const ConvGeometry& g, const Src* input, const int64_t* tap_offset, int n, int iy0,
                 int ix0, const Src** tap_source) {
  const auto pixel = [&](int iy, int ix) {
    return input + ((int64_t(n) * g.in.h + iy) * g.in.w + ix) * g.in_pixel_stride;
  };
  if (iy0 >= 0 && iy0 + g.kernel <= g.in.h && ix0 >= 0 && ix0 + g.kernel <= g.in.w) {
    const Src* top_left = pixel(iy0, ix0);
    for (int tap = 0; tap < g.kernel * g.kernel; ++tap) {
      tap_source[tap] = top_left + tap_offset[tap];
    }
    return;
  }
  int tap = 0;
  for (int iy = iy0; iy < iy0 + g.kernel; ++iy) {
    for (int ix = ix0; ix < ix0 + g.kernel; ++ix, ++tap) {
      const bool inside = iy >= 0 && iy < g.in.h && ix >= 0 && ix < g.in.w;
      tap_source[tap] = inside ? pixel(iy, ix) : nullptr;
    }
  }
}

// Packs rows [first_pixel, first_pixel + rows) of the implicit im2col matrix, reduction blocks
// [kb0, kb1), into dst as [tile][kb][MR][16]; rows past `rows` are zeros.
template <class Src, class Dst>
void pack_activations(const ConvGeometry& g, int64_t first_pixel, int rows, int mr, int kb0,
                      int kb1, conv_operands::OperandRounding rounding, void* packed) {
  Dst* dst = static_cast<Dst*>(packed);
  const Src* input = static_cast<const Src*>(g.input);
  const int nkb = kb1 - kb0;
  const Src* tap_source[kMaxTaps];
  int64_t tap_offset[kMaxTaps];  // each tap's pixel from the window's top-left one
  for (int tap = 0; tap < g.kernel * g.kernel; ++tap) {
    tap_offset[tap] = (int64_t(tap / g.kernel) * g.in.w + tap % g.kernel) * g.in_pixel_stride;
  }
  // The output position walks forward pixel by pixel: no divisions in the loop.
  int ox = int(first_pixel % g.out.w), oy = int(first_pixel / g.out.w % g.out.h);
  int n = int(first_pixel / g.out.w / g.out.h);
  // A 1x1 conv of stride 1 without padding reads output pixel p's input at pixel p: no window to
  // locate (locate_taps took 4.5% of a 64-channel 1x1 conv's samples at 160x160; docs/perf.md).
  const bool pointwise = g.kernel == 1 && g.stride == 1 && g.padding == 0;
  for (int row = 0; row < ceil_div(rows, mr) * mr; ++row) {
    Dst* row_dst = dst + int64_t(row / mr) * nkb * mr * kKBlock + (row % mr) * kKBlock;
    if (row >= rows) {
      for (int kb = 0; kb < nkb; ++kb) std::fill_n(row_dst + kb * mr * kKBlock, kKBlock, Dst{});
      continue;
    }
    if (pointwise) {
      tap_source[0] = input + (first_pixel + row) * g.in_pixel_stride;
      pack_row(g, tap_source, kb0, kb1, mr, rounding, row_dst);
      continue;
    }
    locate_taps(g, input, tap_offset, n, oy * g.stride - g.padding, ox * g.stride - g.padding,
                tap_source);
    pack_row(g, tap_source, kb0, kb1, mr, rounding, row_dst);
    if (++ox == g.out.w) {
      ox = 0;
      if (++oy == g.out.h) oy = 0, ++n;
    }
  }
}

using PackFn = void (*)(const ConvGeometry&, int64_t, int, int, int, int,
                        conv_operands::OperandRounding, void*);

PackFn pack_function(DataType input, kernels::OperandFormat operands) {
  const bool bf16_in = input == DataType::BFLOAT16;
  if (operands == kernels::OperandFormat::kBf16Pairs) {
    return bf16_in ? &pack_activations<uint16_t, uint16_t> : &pack_activations<float, uint16_t>;
  }
  return bf16_in ? &pack_activations<uint16_t, float> : &pack_activations<float, float>;
}

// How the weights stay in memory: bfloat8_b ones as their blocks only when asked.
DataType resident_dtype(const Conv2dConfig& config) {
  const bool as_bf16 = config.weights_dtype == DataType::BFLOAT8_B && !config.compact_weights;
  return as_bf16 ? DataType::BFLOAT16 : config.weights_dtype;
}

// Whether a conv has the shape of those a kernel reads in place (ConvKernel::window): an RGB stem.
bool window_shape(const Conv2dParams& p, const Conv2dConfig& config) {
  return config.winograd == WinogradTile::kNone && p.in_channels == kernels::kWindowChannels &&
         p.kernel == kernels::kWindowKernel && p.stride <= kernels::kWindowStrides;
}

// An RGB stem's LoFi runs where its kernel reads the input in place (packing had been 40% of its
// time): on VDPBF16PS where the LoFi kernel has such a variant, its weights' kernel rows padded to
// whole pairs (so not for bfloat8_b weights, whose blocks of 16 would then group other values);
// else on fp32 FMAs of its bf16 operands (the same products; only the order of the sums differs
// from VDPBF16PS's). YOLOv4's stem at 320 in `auto` (`yolo4 profile --preset auto --runs 10`,
// alternated runs, docs/perf.md): with AVX-512's kernels 2.3-3.5 ms packed on VDPBF16PS, 1.85-1.94
// in place on FMAs, 1.30-1.39 in place on VDPBF16PS; with AVX2's 4.6-5.7 packed, 2.6-3.4 in place.
kernels::ConvKernel select_kernel(const Conv2dParams& p, const Conv2dConfig& config, Isa isa) {
  const kernels::KernelTable& table = kernels::kernel_table(isa);
  if (config.math_fidelity != MathFidelity::LoFi) return table.conv_hifi4;
  if (config.lofi_exact_order) return table.conv_lofi_exact;
  if (window_shape(p, config)) {
    const bool pairs_in_place =
        table.conv_lofi.window[p.stride - 1][0] && config.weights_dtype != DataType::BFLOAT8_B;
    return pairs_in_place ? table.conv_lofi : table.conv_lofi_window;
  }
  return resident_dtype(config) == DataType::BFLOAT8_B ? table.conv_lofi_decoded : table.conv_lofi;
}

// Whether `kernel` reads the conv's input in place (ConvKernel::window).
bool reads_in_place(const Conv2dParams& p, const Conv2dConfig& config,
                    const kernels::ConvKernel& kernel) {
  return window_shape(p, config) && kernel.window[p.stride - 1][0];
}

// An L1 way's bytes (64 sets of 64-byte lines: 32 KB 8-way and 48 KB 12-way L1s alike): rows this
// far apart share a set.
constexpr int64_t kL1WayBytes = 4096;

// Whether `kernel` reads a pointwise conv's input in place (ConvKernel::in_place): 1x1, stride 1,
// no padding, over whole blocks of channels (a slice's neighbours are never read) held in the
// format its in-place kernels read (in_place_input): fp32 for a kernel on fp32 operands
// (HiFi4's), bf16 for one on bf16 pairs or on widened bf16 operands.
// Not where the input's pixels lie a multiple of an L1 way apart: a tile's rows would then all
// contend for one set (fp32 on 1024 channels took 1.09x the packed time; docs/perf.md).
bool pointwise_reads_in_place(const Conv2dParams& p, const Conv2dConfig& config,
                              const kernels::ConvKernel& kernel, DataType input,
                              int64_t in_pixel_stride) {
  const kernels::OperandFormat format = kernel.in_place_input();
  const DataType operands =
      format == kernels::OperandFormat::kBf16Pairs ? DataType::BFLOAT16 : DataType::FLOAT32;
  const int64_t row_bytes = in_pixel_stride * int64_t(operand_bytes(format));
  return config.winograd == WinogradTile::kNone && p.kernel == 1 && p.stride == 1 &&
         p.padding == 0 && p.in_channels % kKBlock == 0 && kernel.in_place.run[0] &&
         input == operands && row_bytes % kL1WayBytes != 0;
}

// pair_rows: the kernel reads bf16 pairs of an RGB stem's input in place (ConvKernel::window),
// each kernel row as whole pairs.
ReductionLayout reduction_layout(const Conv2dParams& p, int nr, bool pair_rows) {
  ReductionLayout l;
  l.in_channels = p.in_channels;
  l.kernel = p.kernel;
  // Wide inputs keep every tap on whole blocks (copies of 16 channels); narrow ones (the RGB
  // input) pack taps back to back so that 3 channels do not cost 16.
  l.channels_per_tap = p.in_channels >= kKBlock ? round_up(p.in_channels, kKBlock) : p.in_channels;
  if (pair_rows) l.row_values = kernels::kWindowPairRowValues;
  l.kblocks = ceil_div(int64_t(p.kernel) * l.row_stride(), kKBlock);
  // Panels cover C padded to the tile width, so a TILE output gets its padding written as zeros.
  l.panels = ceil_div(round_up(p.out_channels, kTileChannels), nr);
  return l;
}

std::span<const float> check_weights(const Conv2dParams& p, std::span<const float> weight,
                                     std::span<const float> bias) {
  const size_t expected = size_t(p.out_channels) * p.in_channels * p.kernel * p.kernel;
  YOLO4_CHECK(weight.size() == expected, "conv2d: weight has ", weight.size(), " values, expected ",
              expected, " (OIHW ", p.out_channels, "x", p.in_channels, "x", p.kernel, "x", p.kernel,
              ")");
  YOLO4_CHECK(bias.empty() || bias.size() == size_t(p.out_channels), "conv2d: bias has ",
              bias.size(), " values, expected ", p.out_channels);
  return weight;
}

std::vector<PackedConvWeights> pack_weights(const Conv2dParams& p, std::span<const float> weight,
                                            const ReductionLayout& layout,
                                            const kernels::ConvKernel& kernel,
                                            const Conv2dConfig& config) {
  std::vector<PackedConvWeights> packed;
  const DataType resident = resident_dtype(config);
  if (config.winograd == WinogradTile::kNone) {
    packed.emplace_back(weight, p.out_channels, layout, kernel, config.weights_dtype, resident);
    return packed;
  }
  for (const auto& u :
       winograd::transform_weights(config.winograd, weight, p.out_channels, p.in_channels)) {
    packed.emplace_back(u, p.out_channels, layout, kernel, config.weights_dtype, resident);
  }
  return packed;
}

using conv_operands::WorkRange;

// How the cores claim their work from a ShareQueue. Each owns the MR-row tiles and weight panels
// of its place in the strategy's grid, claimed as blocks of its tiles against its panels; or,
// where every core has every tile in one block and one reduction pass (convs split by channels
// only: the 20x20 and 10x10 maps), as single panels. A core done with its own share takes what
// is left of another's: blocks where the cores split the pixels only, or single panels.
class WorkSplit {
 public:
  WorkSplit(const ConvStrategy& s, int tiles, int panels, int mr, int kblocks)
      : s_(s),
        tiles_(tiles),
        panels_(panels),
        block_tiles_(
            conv_operands::balanced_block_rows(ceil_div(tiles, s.grid_rows), s.block_pixels / mr)),
        by_panels_(s.grid_rows == 1 && s.grid_columns > 1 && block_tiles_ >= tiles &&
                   s.chunk_kblocks >= kblocks) {}

  int block_tiles() const { return block_tiles_; }
  int cores() const { return s_.grid_rows * s_.grid_columns; }

  // The tiles and panels core `core` owns.
  WorkRange share(int core) const {
    const int row = core / s_.grid_columns, column = core % s_.grid_columns;
    return {int(int64_t(tiles_) * row / s_.grid_rows),
            int(int64_t(tiles_) * (row + 1) / s_.grid_rows), panels_ * column / s_.grid_columns,
            panels_ * (column + 1) / s_.grid_columns};
  }

  // The claims a core's share makes: its blocks, or its panels.
  int claims(int core) const {
    const WorkRange own = share(core);
    return by_panels_ ? own.panel_end - own.panel_begin
                      : ceil_div(own.tile_end - own.tile_begin, block_tiles_);
  }

  // The next work of `core`, none once it is done.
  std::optional<WorkRange> next(ShareQueue& queue, int core) const {
    const auto claim = queue.next(core, /*steal=*/s_.grid_columns == 1 || by_panels_);
    if (!claim) return std::nullopt;
    const WorkRange owner = share(claim->owner);
    if (by_panels_) {
      const int panel = owner.panel_begin + claim->block;
      return WorkRange{owner.tile_begin, owner.tile_end, panel, panel + 1};
    }
    const int t0 = owner.tile_begin + claim->block * block_tiles_;
    const WorkRange own = share(core);  // where blocks are taken, every core has every panel
    return WorkRange{t0, std::min(owner.tile_end, t0 + block_tiles_), own.panel_begin,
                     own.panel_end};
  }

 private:
  const ConvStrategy& s_;
  int tiles_, panels_, block_tiles_;
  bool by_panels_;
};

// Everything the cores share to run a direct (non-Winograd) conv.
struct DirectConv {
  const ConvGeometry& g;
  const ConvStrategy& s;
  const kernels::ConvKernel& kernel;
  const PackedConvWeights& weights;
  const float* bias;  // packed, [panel][NR]
  Activation activation;
  const Tensor& output;
  const Tensor* residual;
  PackFn pack;
  bool out_bf16;
  int64_t pixels;
  const WorkSplit& split;
  int out_columns;
  size_t element;    // bytes per output value
  size_t a_element;  // bytes per activation operand: packed, or the input's where read in place
  // Read in place (ConvKernel::window): its MR-pixel tiles per output row; 0: packed.
  int window_tiles_per_row;
  bool in_bf16;             // the input's dtype, where read in place
  bool pointwise_in_place;  // a pointwise conv's input read in place (ConvKernel::in_place)
};

// One core's scratch: packed activations, decoded weights, fp32 partial sums.
struct CoreScratch {
  AlignedVector<float>& packed;
  AlignedVector<float>& weights;
  AlignedVector<float>& partial;
  bool decode_once;  // weights decoded once for the core's panels, not per block
  int partial_stride;
};

// A tile of panel `panel` over reduction blocks [kb0, kb1), all but its rows: the weights (`own`:
// the core's share, whose panels' weights it may have decoded once; others', taken when those
// are no longer needed, are decoded in their turn into the same scratch), bias and epilogue.
kernels::ConvTile panel_tile(const DirectConv& c, const CoreScratch& scratch, const WorkRange& own,
                             int panel, int kb0, int kb1) {
  const int nr = c.kernel.nr;
  kernels::ConvTile tile;
  const bool own_decoded = scratch.decode_once && own.has_panel(panel);
  tile.w = own_decoded ? c.weights.chunk_of(scratch.weights, panel - own.panel_begin, kb0)
                       : c.weights.chunk(panel, kb0, kb1, scratch.weights);
  tile.kblocks = kb1 - kb0;
  tile.bias = c.bias + int64_t(panel) * nr;
  tile.columns = std::min(nr, c.out_columns - panel * nr);
  tile.channels = c.g.out.c - panel * nr;
  tile.accumulate = kb0 > 0;
  tile.finalize = kb1 == c.g.kblocks;
  tile.activation = c.activation;
  tile.partial_stride = scratch.partial_stride;
  tile.residual_stride = c.residual ? c.residual->pixel_stride() : 0;
  return tile;
}

// Where a tile starting at output pixel p writes panel `panel`: its output and residual.
void point_at_output(const DirectConv& c, int64_t p, int panel, kernels::ConvTile& tile) {
  const int nr = c.kernel.nr;
  tile.out = c.output.data<std::byte>() + (p * c.output.pixel_stride() + panel * nr) * c.element;
  tile.out_stride = c.output.pixel_stride();
  tile.residual = c.residual ? c.residual->data<std::byte>() +
                                   (p * tile.residual_stride + panel * nr) * c.element
                             : nullptr;
}

// The MR-row tiles [t0, block_end) of one panel, over reduction blocks [kb0, kb1): fp32
// partial sums until the last chunk, then the output through the fused epilogue.
// `own`: the core's share, whose panels' weights it may have decoded once; others' (taken when
// those are no longer needed) are decoded in their turn into the same scratch.
void run_panel(const DirectConv& c, const CoreScratch& scratch, const WorkRange& own, int panel,
               int t0, int block_end, int kb0, int kb1) {
  const int mr = c.kernel.mr, nr = c.kernel.nr;
  const int64_t first_pixel = int64_t(t0) * mr;
  kernels::ConvTile tile = panel_tile(c, scratch, own, panel, kb0, kb1);
  tile.a_row_stride = c.g.in_pixel_stride;
  for (int t = t0; t < block_end; ++t) {
    const int64_t p = int64_t(t) * mr;
    tile.a = c.pointwise_in_place
                 ? static_cast<const std::byte*>(c.g.input) +
                       size_t(p * c.g.in_pixel_stride + int64_t(kb0) * kKBlock) * c.a_element
                 : reinterpret_cast<const std::byte*>(scratch.packed.data()) +
                       size_t(t - t0) * (kb1 - kb0) * mr * kKBlock * c.a_element;
    tile.rows = c.kernel.tile_rows(c.pixels - p, t + 1 < block_end, c.kernel.mr);
    // Partial sums exist only for a reduction in several chunks (else `partial` may be empty,
    // and an offset from its null data() is undefined behaviour: found by fuzz_darknet_model).
    float* tile_partial = tile.accumulate || !tile.finalize
                              ? scratch.partial.data() +
                                    size_t(p - first_pixel) * scratch.partial_stride +
                                    (panel - own.panel_begin) * nr
                              : nullptr;
    tile.partial = tile_partial;
    if (tile.finalize) {
      point_at_output(c, p, panel, tile);
      c.kernel.for_rows(tile.rows, c.out_bf16, c.pointwise_in_place)(tile);
    } else {
      tile.out = tile_partial;
      tile.out_stride = scratch.partial_stride;
      c.kernel.for_rows(tile.rows, false, c.pointwise_in_place)(tile);
    }
    if (tile.rows > mr) ++t;  // the tall kernel ran the next tile's row too
  }
}

// The MR-row tiles of `work` against its panels: each reduction chunk packed, then run against
// every panel. `packed`: its tiles' one chunk is in the scratch already.
void run_work(const DirectConv& c, const CoreScratch& scratch, const WorkRange& own,
              const WorkRange& work, bool packed) {
  const int mr = c.kernel.mr;
  const int64_t first_pixel = int64_t(work.tile_begin) * mr;
  const int rows = int(std::min<int64_t>(c.pixels, int64_t(work.tile_end) * mr) - first_pixel);
  for (int kb0 = 0; kb0 < c.g.kblocks; kb0 += c.s.chunk_kblocks) {
    const int kb1 = std::min(c.g.kblocks, kb0 + c.s.chunk_kblocks);
    if (!packed && !c.pointwise_in_place) {
      c.pack(c.g, first_pixel, rows, mr, kb0, kb1, conv_operands::operand_rounding(c.kernel),
             scratch.packed.data());
    }
    for (int panel = work.panel_begin; panel < work.panel_end; ++panel) {
      run_panel(c, scratch, own, panel, work.tile_begin, work.tile_end, kb0, kb1);
    }
  }
}

// Rows [iy0, iy0 + rows) of image n as a window kernel reads them: float (rounded to bf16 for
// LoFi) or bf16 (Dst = uint16_t, a kernel on bf16 pairs), kWindowChannels values a pixel, `width`
// pixels from column -padding on, zero outside the input; then one zero, which the last pair of
// the last row's last window reads (its weight is zero, but uninitialised memory could be NaN).
template <class Src, class Dst>
void copy_window_rows(const ConvGeometry& g, int n, int iy0, int rows, int width,
                      conv_operands::OperandRounding rounding, Dst* dst) {
  constexpr int C = kernels::kWindowChannels;
  const Src* input = static_cast<const Src*>(g.input);
  const int columns = std::min(g.in.w, width - g.padding);
  for (int r = 0; r < rows; ++r, dst += int64_t(width) * C) {
    const int iy = iy0 + r;
    if (iy < 0 || iy >= g.in.h) {
      std::fill_n(dst, int64_t(width) * C, Dst{});
      continue;
    }
    // Zeros where no input pixel lands: the padding on the left, and right of the last column.
    std::fill_n(dst, g.padding * C, Dst{});
    std::fill(dst + (g.padding + columns) * C, dst + int64_t(width) * C, Dst{});
    const Src* row = input + (int64_t(n) * g.in.h + iy) * g.in.w * g.in_pixel_stride;
    for (int ix = 0; ix < columns; ++ix) {
      for (int ch = 0; ch < C; ++ch) {
        dst[(ix + g.padding) * C + ch] = conv_operands::operand<Dst>(
            conv_operands::widen(row[ix * g.in_pixel_stride + ch]), rounding.bf16);
      }
    }
  }
  *dst = Dst{};
}

// The window rows into `scratch` as the kernel's operands (float or bf16 pairs); returns them.
template <class Dst>
const std::byte* window_rows(const DirectConv& c, AlignedVector<float>& scratch, int n, int iy0,
                             int rows, int width) {
  const int64_t values = int64_t(rows) * width * kernels::kWindowChannels + 1;
  scratch.resize(size_t((values * int64_t(sizeof(Dst)) + 3) / 4));
  Dst* dst = reinterpret_cast<Dst*>(scratch.data());
  const conv_operands::OperandRounding rounding = conv_operands::operand_rounding(c.kernel);
  if (c.in_bf16) {
    copy_window_rows<uint16_t>(c.g, n, iy0, rows, width, rounding, dst);
  } else {
    copy_window_rows<float>(c.g, n, iy0, rows, width, rounding, dst);
  }
  return reinterpret_cast<const std::byte*>(dst);
}

// The tiles of `work` of a conv read in place (ConvKernel::window), image by image: the input rows
// they read copied once (zero-padded: every tile runs whole), then run against every panel.
// Tile t is output row t / tiles_per_row's pixels from (t % tiles_per_row) * MR on.
void run_window_work(const DirectConv& c, const CoreScratch& scratch, const WorkRange& own,
                     const WorkRange& work) {
  const ConvGeometry& g = c.g;
  const int mr = c.kernel.mr, per_row = c.window_tiles_per_row, stride = g.stride;
  const int width = (per_row * mr - 1) * stride + g.kernel;  // covers every tile's windows
  const int64_t row_values = int64_t(width) * kernels::kWindowChannels;
  const kernels::ConvTileFn kernel = c.kernel.window[stride - 1][c.out_bf16];
  const bool pairs = c.kernel.operands == kernels::OperandFormat::kBf16Pairs;
  for (int t0 = work.tile_begin; t0 < work.tile_end;) {
    const int n = t0 / per_row / g.out.h;
    const int t1 = std::min(work.tile_end, (n + 1) * g.out.h * per_row);  // this image's
    const int oy0 = t0 / per_row % g.out.h, oy1 = (t1 - 1) / per_row % g.out.h;
    const int rows = (oy1 - oy0) * stride + g.kernel;
    const int iy0 = oy0 * stride - g.padding;
    // Element offsets below are in operands, float or bf16 alike.
    const std::byte* window = pairs ? window_rows<uint16_t>(c, scratch.packed, n, iy0, rows, width)
                                    : window_rows<float>(c, scratch.packed, n, iy0, rows, width);
    for (int panel = work.panel_begin; panel < work.panel_end; ++panel) {
      kernels::ConvTile tile = panel_tile(c, scratch, own, panel, 0, g.kblocks);
      tile.kblocks = g.kernel;  // the window's rows
      tile.window_row_stride = row_values;
      for (int t = t0; t < t1; ++t) {
        const int oy = t / per_row % g.out.h, x0 = t % per_row * mr;
        tile.a =
            window + ((oy - oy0) * stride * row_values + x0 * stride * kernels::kWindowChannels) *
                         int64_t(c.a_element);
        tile.rows = std::min(mr, g.out.w - x0);
        point_at_output(c, (int64_t(n) * g.out.h + oy) * g.out.w + x0, panel, tile);
        kernel(tile);
      }
    }
    t0 = t1;
  }
}

// One core's work as the split gives it: its own share's, then what is left of others'.
void run_core_share(const DirectConv& c, int core, ShareQueue& queue) {
  c.kernel.prepare_core();
  const int mr = c.kernel.mr, block_tiles = c.split.block_tiles();
  const WorkRange share = c.split.share(core);
  thread_local AlignedVector<float> packed, weight_scratch, partial;
  // Weights decoded (bfloat8_b) or widened (bf16) that stay in cache are done once per core.
  const bool decode_once =
      c.weights.decoded_per_chunk() &&
      size_t(share.panel_end - share.panel_begin) * c.weights.decoded_panel_bytes() <=
          size_t(c.kernel.blocking.decode_once_bytes);
  if (decode_once) c.weights.decode_panels(share.panel_begin, share.panel_end, weight_scratch);
  if (!c.pointwise_in_place) {
    packed.resize((size_t(block_tiles) * mr * c.s.chunk_kblocks * kKBlock * c.a_element + 3) / 4);
  }
  // A reduction in several chunks keeps its partial sums in fp32 (the output may be bf16).
  const int partial_stride = (share.panel_end - share.panel_begin) * c.kernel.nr;
  if (c.s.chunk_kblocks < c.g.kblocks) partial.resize(size_t(block_tiles) * mr * partial_stride);
  const CoreScratch scratch{packed, weight_scratch, partial, decode_once, partial_stride};
  // Tiles already packed in one chunk (panels claimed one at a time) are not packed again.
  const bool one_chunk = c.s.chunk_kblocks >= c.g.kblocks;
  WorkRange packed_tiles{0, 0, 0, 0};
  while (const std::optional<WorkRange> work = c.split.next(queue, core)) {
    const bool packed = one_chunk && work->tile_begin == packed_tiles.tile_begin &&
                        work->tile_end == packed_tiles.tile_end;
    if (c.window_tiles_per_row > 0) {
      run_window_work(c, scratch, share, *work);
    } else {
      run_work(c, scratch, share, *work, packed);
    }
    packed_tiles = *work;
  }
}

// Output channels a run writes: a TILE output also gets its zero padding channels, a slice only
// its own channels.
int output_columns(const Tensor& output) {
  return output.layout() == Layout::TILE ? int(output.pixel_stride()) : output.shape().c;
}

Conv2dParams checked(const Conv2dParams& p, const Conv2dConfig& c) {
  validate_conv_params(p, "conv2d");
  validate_conv_config(c, "conv2d");
  YOLO4_CHECK(p.groups == 1, "conv2d: groups=", p.groups,
              " is a grouped convolution: use GroupedConv2d (ops/grouped_conv2d.h)");
  YOLO4_CHECK(c.winograd == WinogradTile::kNone ||
                  (p.kernel == 3 && p.stride == kernels::winograd_stride(c.winograd) &&
                   p.padding <= 1 && p.in_channels >= kKBlock),
              "conv2d: winograd ", kernels::to_string(c.winograd), " needs a 3x3 stride-",
              kernels::winograd_stride(c.winograd), " conv with padding 0 or 1 and at least ",
              kKBlock, " input channels, got ", p.kernel, "x", p.kernel, " stride ", p.stride,
              " padding ", p.padding, " with ", p.in_channels, " input channels");
  return p;
}

// Winograd runs 1x1 GEMMs over the input channels: their reduction is the packed layout.
ReductionLayout packed_layout(const Conv2dParams& p, const Conv2dConfig& c,
                              const kernels::ConvKernel& kernel) {
  if (c.winograd != WinogradTile::kNone) {
    return reduction_layout(Conv2dParams{p.in_channels, p.out_channels, 1, 1, 0}, kernel.nr, false);
  }
  const bool pair_rows =
      reads_in_place(p, c, kernel) && kernel.operands == kernels::OperandFormat::kBf16Pairs;
  return reduction_layout(p, kernel.nr, pair_rows);
}

}  // namespace

void validate_conv_params(const Conv2dParams& p, const char* op) {
  YOLO4_CHECK(p.in_channels > 0 && p.out_channels > 0, op,
              ": channels must be positive, got in=", p.in_channels, " out=", p.out_channels);
  YOLO4_CHECK(p.kernel > 0 && p.kernel <= kMaxConvKernel && p.stride > 0 && p.padding >= 0 &&
                  p.padding < p.kernel,
              op, ": unsupported kernel=", p.kernel, " stride=", p.stride, " padding=", p.padding,
              ": expected kernel 1..", kMaxConvKernel, ", stride >= 1, padding 0..kernel-1");
}

// Fields whose behaviour later work brings are refused rather than ignored.
void validate_conv_config(const Conv2dConfig& c, const char* op) {
  YOLO4_CHECK(c.dtype != DataType::BFLOAT8_B, op,
              ": dtype bfloat8_b is a weights format; activations are float32 or bfloat16");
  YOLO4_CHECK(c.act_block_h_override >= 0, op, ": act_block_h_override must be >= 0, got ",
              c.act_block_h_override);
  YOLO4_CHECK(c.shard_layout != TensorMemoryLayout::INTERLEAVED, op,
              ": shard_layout must be HEIGHT, WIDTH or BLOCK sharded");
}

// math_approx_mode fuses mish's fast approximation; leaky is cheap and exact already.
Activation fused_activation(const Conv2dConfig& config) {
  return config.math_approx_mode && config.activation == Activation::kMish ? Activation::kMishApprox
                                                                           : config.activation;
}

Conv2d::Conv2d(const Conv2dParams& params, std::span<const float> weight_oihw,
               std::span<const float> bias, const Conv2dConfig& config, Isa isa)
    : params_(checked(params, config)),
      config_(config),
      activation_(fused_activation(config)),
      isa_(isa),
      kernel_(select_kernel(params, config, isa)),
      layout_(packed_layout(params, config, kernel_)),
      weights_(pack_weights(params, check_weights(params, weight_oihw, bias), layout_, kernel_,
                            config)) {
  packed_bias_.assign(size_t(layout_.panels) * kernel_.nr, 0.0f);
  std::copy(bias.begin(), bias.end(), packed_bias_.begin());
}

size_t Conv2d::weight_bytes() const {
  size_t bytes = 0;
  for (const PackedConvWeights& w : weights_) bytes += w.resident_bytes();
  return bytes;
}

Shape Conv2d::output_shape(const Shape& in) const {
  const int k = params_.kernel, s = params_.stride, p = params_.padding;
  YOLO4_CHECK(in.h + 2 * p >= k && in.w + 2 * p >= k, "conv2d: input ", to_string(in),
              " is smaller than the ", k, "x", k, " kernel");
  return Shape{in.n, (in.h + 2 * p - k) / s + 1, (in.w + 2 * p - k) / s + 1, params_.out_channels};
}

double Conv2d::flops(const Shape& in) const {
  const Shape out = output_shape(in);
  return 2.0 * double(out.pixels()) * out.c * params_.in_channels * params_.kernel * params_.kernel;
}

void Conv2d::winograd_blocking(ConvStrategy& s, int tiles) const {
  const kernels::ConvBlocking& b = kernel_.blocking;
  const int positions = kernels::winograd_positions(s.winograd);
  // One MR-row of transformed tiles, every position's, packed.
  const int64_t row_bytes = int64_t(positions) * layout_.kblocks * kKBlock *
                            int64_t(operand_bytes(kernel_.operands)) * kernel_.mr;
  const int64_t share_input = row_bytes * ceil_div(tiles, s.grid_rows);
  const int64_t share_weights =
      int64_t(weight_bytes()) / layout_.panels * ceil_div(layout_.panels, s.grid_columns);
  // Where the weights are what streams (decoded or widened per block, or larger than the input
  // they meet: the 20x20 and 10x10 maps), one block spans the share as far as
  // winograd_block_bytes_streamed allows, so that they stream once, and MR-rows are grouped so
  // that each weight panel, once fetched, serves several. Elsewhere an L2-sized block meets the
  // weight panels in turn, one MR-row at a time.
  const bool weights_stream = weights_.front().decoded_per_chunk() || share_weights > share_input;
  const int64_t block_bytes =
      weights_stream ? b.winograd_block_bytes_streamed : b.winograd_block_bytes;
  s.block_pixels = config_.act_block_h_override > 0
                       ? round_up(config_.act_block_h_override, kernel_.mr)
                       : int(std::max<int64_t>(1, block_bytes / row_bytes)) * kernel_.mr;
  const int64_t sums_row_bytes = int64_t(positions) * kernel_.mr * kernel_.nr * sizeof(float);
  s.group_tiles =
      weights_stream ? int(std::max<int64_t>(1, b.winograd_sums_bytes / sums_row_bytes)) : 1;
}

bool Conv2d::reads_pointwise_in_place(DataType input, int64_t in_pixel_stride) const {
  return pointwise_reads_in_place(params_, config_, kernel_, input, in_pixel_stride);
}

int Conv2d::window_tiles_per_row(const Shape& out) const {
  return reads_in_place(params_, config_, kernel_) ? ceil_div(out.w, kernel_.mr) : 0;
}

ConvStrategy Conv2d::strategy(const Shape& in, int cores) const {
  const Shape out = output_shape(in);
  ConvStrategy s;
  s.shard_layout = report_rule(out.pixels(), out.c, s.reason);
  if (config_.shard_layout) {
    s.shard_layout = *config_.shard_layout;
    s.reason = "configured";
  }
  s.winograd = config_.winograd;
  const bool winograd = s.winograd != WinogradTile::kNone;
  const int tiles = tile_count(out, s.winograd);
  switch (s.shard_layout) {
    case TensorMemoryLayout::WIDTH_SHARDED:
      s.grid_columns = cores;
      break;
    case TensorMemoryLayout::BLOCK_SHARDED:
      s.grid_rows = 1;
      for (int r = 1; r * r <= cores; ++r) {
        if (cores % r == 0) s.grid_rows = r;
      }
      s.grid_columns = cores / s.grid_rows;
      break;
    default:
      s.grid_rows = cores;
      break;
  }
  // More cores than tiles or panels: give the spare ones nothing rather than split finer.
  s.grid_rows = std::max(1, std::min(s.grid_rows, tiles));
  s.grid_columns = std::max(1, std::min(s.grid_columns, layout_.panels));
  if (winograd) {  // one reduction pass: the GEMMs' sums need no partials
    s.chunk_kblocks = layout_.kblocks;
    winograd_blocking(s, tiles);
    return s;
  }
  const bool narrow = layout_.channels_per_tap % kKBlock != 0;  // packed in one chunk
  s.chunk_kblocks =
      narrow ? layout_.kblocks : std::min(layout_.kblocks, kernel_.blocking.chunk_kblocks_max);
  const int chunk_bytes = s.chunk_kblocks * kKBlock * int(operand_bytes(kernel_.operands));
  // bfloat8_b weights are decoded per block when too large to decode once per core: bigger
  // blocks (fewer decodes) then pay for their extra cache footprint.
  const int block_bytes = weights_.front().decoded_per_chunk()
                              ? kernel_.blocking.act_block_bytes_decoded
                              : kernel_.blocking.act_block_bytes;
  int auto_tiles = std::max(1, block_bytes / (chunk_bytes * kernel_.mr));
  // Cores that split only the pixels take each other's blocks when done with theirs
  // (ShareQueue): a few blocks a share leave something to take.
  if (s.grid_columns == 1 && s.grid_rows > 1) {
    auto_tiles = std::min(auto_tiles, ceil_div(ceil_div(tiles, s.grid_rows), kMinStealableBlocks));
  }
  const int auto_pixels = auto_tiles * kernel_.mr;
  s.block_pixels = config_.act_block_h_override > 0
                       ? round_up(config_.act_block_h_override, kernel_.mr)
                       : auto_pixels;
  return s;
}

int Conv2d::tile_count(const Shape& out, WinogradTile winograd) const {
  if (winograd != WinogradTile::kNone) {
    const int64_t tiles = winograd::tile_count(winograd, out);
    return ceil_div(tiles, kernel_.tile_fill(tiles));
  }
  const int per_row = window_tiles_per_row(out);
  return per_row > 0 ? out.n * out.h * per_row : ceil_div(out.pixels(), kernel_.mr);
}

void Conv2d::describe(OpRecord& r, const Tensor& input, const Tensor& output,
                      const Tensor* residual, const ConvStrategy& s) const {
  r.input = input.shape();
  r.output = output.shape();
  r.dtype = config_.dtype;
  r.weights_dtype = config_.weights_dtype;
  r.math_fidelity = config_.math_fidelity;
  r.shard_layout = s.shard_layout;
  r.cores = s.grid_rows * s.grid_columns;
  // The FLOPs the kernels execute, so that utilisation stays a fraction of the peak: Winograd's
  // GEMMs do 16 / 36 (F(2x2)), 36 / 144 (F(4x4)) or 64 / 324 (F(6x6)) of the direct conv's
  // multiplications (its transforms are not counted).
  r.flops = s.winograd != WinogradTile::kNone
                ? 2.0 * double(winograd::tile_count(s.winograd, output.shape())) *
                      kernels::winograd_positions(s.winograd) * params_.in_channels *
                      params_.out_channels
                : flops(input.shape());
  const double element = traits(config_.dtype).block_bytes;
  r.bytes =
      element * double(input.shape().elements() + output.shape().elements() * (residual ? 2 : 1)) +
      double(weight_bytes());
}

void Conv2d::validate(const Tensor& input, const Tensor& output, const Tensor* residual) const {
  YOLO4_CHECK(input.is_allocated(), "conv2d: input tensor is not allocated (deallocated?)");
  YOLO4_CHECK(input.dtype() == DataType::FLOAT32 || input.dtype() == DataType::BFLOAT16,
              "conv2d: input dtype ", to_string(input.dtype()), ", expected float32 or bfloat16");
  YOLO4_CHECK(input.shape().c == params_.in_channels, "conv2d: input ", to_string(input.shape()),
              " has C=", input.shape().c, ", expected ", params_.in_channels);
  const Shape expected = output_shape(input.shape());
  YOLO4_CHECK(output.is_allocated() && output.shape() == expected, "conv2d: output ",
              to_string(output.shape()), ", expected ", to_string(expected));
  YOLO4_CHECK(output.dtype() == config_.dtype, "conv2d: output dtype ", to_string(output.dtype()),
              ", expected ", to_string(config_.dtype), " (the config's dtype)");
  if (residual) {
    YOLO4_CHECK(residual->is_allocated() && residual->shape() == expected &&
                    residual->dtype() == config_.dtype,
                "conv2d: residual ", to_string(residual->shape()), " ",
                to_string(residual->dtype()), ", expected ", to_string(expected), " ",
                to_string(config_.dtype));
  }
}

Tensor Conv2d::operator()(Device& device, const Tensor& input, const Tensor* residual) const {
  validate_device_isa(device, isa_, "conv2d");
  TensorSpec spec;
  spec.shape = output_shape(input.shape());
  spec.dtype = config_.dtype;
  const ConvStrategy s = strategy(input.shape(), device.num_cores());
  spec.memory_config.memory_layout = s.shard_layout;
  Tensor output = device.allocate(spec);
  validate(input, output, residual);
  execute(device, input, output, residual, s);
  return output;
}

void Conv2d::run(Device& device, const Tensor& input, const Tensor& output,
                 const Tensor* residual) const {
  validate_device_isa(device, isa_, "conv2d");
  validate(input, output, residual);
  execute(device, input, output, residual, strategy(input.shape(), device.num_cores()));
}

int Conv2d::execute_winograd(Device& device, const Tensor& input, const Tensor& output,
                             const Tensor* residual, const ConvStrategy& s) const {
  winograd::Run run;
  run.input = &input;
  run.output = &output;
  run.residual = residual;
  run.tile = s.winograd;
  run.padding = params_.padding;
  run.kernel = &kernel_;
  run.weights = weights_;
  run.bias = packed_bias_.data();
  run.activation = activation_;
  run.kblocks = layout_.kblocks;
  run.group_tiles = s.group_tiles;
  run.out_columns = output_columns(output);
  const WorkSplit split(s, tile_count(output.shape(), s.winograd),
                        ceil_div(run.out_columns, kernel_.nr), kernel_.mr, layout_.kblocks);
  run.block_tiles = split.block_tiles();
  ShareQueue queue(split.cores(), [&](int core) { return split.claims(core); });
  device.pool().run(split.cores(), [&](int core) {
    winograd::run_share(run, split.share(core), [&] { return split.next(queue, core); });
  });
  return queue.taken();
}

void Conv2d::execute(Device& device, const Tensor& input, const Tensor& output,
                     const Tensor* residual, const ConvStrategy& s) const {
  ProfiledOp profiled(device, "conv2d");
  if (profiled.active()) describe(profiled.record, input, output, residual, s);
  if (s.winograd != WinogradTile::kNone) {
    profiled.record.taken = execute_winograd(device, input, output, residual, s);
    return;
  }
  const ConvGeometry g{input.shape(),        output.shape(),
                       params_.kernel,       params_.stride,
                       params_.padding,      layout_.channels_per_tap,
                       layout_.kblocks,      input.data<void>(),
                       input.pixel_stride(), input.layout() == Layout::TILE};
  const WorkSplit split(s, tile_count(g.out, WinogradTile::kNone),
                        ceil_div(output_columns(output), kernel_.nr), kernel_.mr, layout_.kblocks);
  const bool in_place = reads_pointwise_in_place(input.dtype(), input.pixel_stride());
  DirectConv conv{g,
                  s,
                  kernel_,
                  weights_.front(),
                  packed_bias_.data(),
                  activation_,
                  output,
                  residual,
                  pack_function(input.dtype(), kernel_.operands),
                  output.dtype() == DataType::BFLOAT16,
                  g.out.pixels(),
                  split,
                  output_columns(output),
                  size_t(traits(output.dtype()).block_bytes),
                  operand_bytes(in_place ? kernel_.in_place_input() : kernel_.operands),
                  window_tiles_per_row(g.out),
                  input.dtype() == DataType::BFLOAT16,
                  in_place};
  ShareQueue queue(split.cores(), [&](int core) { return split.claims(core); });
  device.pool().run(split.cores(), [&](int core) { run_core_share(conv, core, queue); });
  profiled.record.taken = queue.taken();
}

}  // namespace yolo4
