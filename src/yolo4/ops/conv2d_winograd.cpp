#include "yolo4/ops/conv2d_winograd.h"

#include <algorithm>
#include <array>

#include "yolo4/core/error.h"
#include "yolo4/ops/conv2d_operands.h"

namespace yolo4::winograd {

using conv_operands::ceil_div;
using kernels::kKBlock;

namespace {

using kernels::kWinogradPositionsMax;
using kernels::winograd_index;
using kernels::winograd_input_side;
using kernels::winograd_positions;
using kernels::winograd_side;

// Where one output tile sits.
struct TilePosition {
  int n, y, x;  // output pixel of the tile's top-left
};

TilePosition locate(WinogradTile t, int64_t tile, const Shape& out) {
  const int m = winograd_side(t);
  const int tiles_w = ceil_div(out.w, m), tiles_h = ceil_div(out.h, m);
  return {int(tile / tiles_w / tiles_h), int(tile / tiles_w % tiles_h) * m,
          int(tile % tiles_w) * m};
}

// Transforms tiles [first_tile, first_tile + tiles) into `packed`, laid out as one operand
// [mr_row][kb][MR][16] of `mr_rows` MR-rows per position, `fill` tiles in each
// (ConvKernel::tile_fill); the rows of the last MR-row past `tiles` are zeros.
template <class Dst>
void pack_tiles(const Run& r, int64_t first_tile, int tiles, int mr_rows, int fill, void* packed) {
  const Shape& in = r.input->shape();
  const Shape& out = r.output->shape();
  const std::byte* input = r.input->data<std::byte>();
  const int64_t pixel_bytes = r.input->pixel_stride() * traits(r.input->dtype()).block_bytes;
  const int64_t block_bytes = kKBlock * traits(r.input->dtype()).block_bytes;
  const kernels::WinogradInputFn transform =
      r.kernel->winograd_input[winograd_index(r.tile)][r.input->dtype() == DataType::BFLOAT16];
  const int side = winograd_input_side(r.tile), positions = winograd_positions(r.tile);
  const int stride = kernels::winograd_stride(r.tile);
  const int mr = r.kernel->mr;
  // The transforms round to bf16 for LoFi; VDPBF16PS's order also swaps each pair after.
  const bool swap_pairs = r.kernel->bf16_operands == kernels::Bf16Operands::kPairOrder;
  const int64_t position_stride = int64_t(mr_rows) * mr * r.kblocks * kKBlock;
  Dst* dst = static_cast<Dst*>(packed);
  for (int row = 0; row < mr_rows * fill; ++row) {
    Dst* row_dst = dst + int64_t(row / fill) * r.kblocks * mr * kKBlock + (row % fill) * kKBlock;
    if (row >= tiles) {
      for (int p = 0; p < positions; ++p)
        for (int kb = 0; kb < r.kblocks; ++kb)
          std::fill_n(row_dst + p * position_stride + kb * mr * kKBlock, kKBlock, Dst{});
      continue;
    }
    const TilePosition at = locate(r.tile, first_tile + row, out);
    const std::byte* source[kWinogradPositionsMax];
    for (int i = 0; i < side; ++i) {
      for (int j = 0; j < side; ++j) {
        const int iy = at.y * stride - r.padding + i, ix = at.x * stride - r.padding + j;
        const bool inside = iy >= 0 && iy < in.h && ix >= 0 && ix < in.w;
        source[i * side + j] =
            inside ? input + ((int64_t(at.n) * in.h + iy) * in.w + ix) * pixel_bytes : nullptr;
      }
    }
    for (int kb = 0; kb < r.kblocks; ++kb) {
      const void* block[kWinogradPositionsMax];
      for (int i = 0; i < positions; ++i) {
        block[i] = source[i] ? source[i] + kb * block_bytes : nullptr;
      }
      const int valid = std::min(kKBlock, in.c - kb * kKBlock);
      Dst* kb_dst = row_dst + kb * mr * kKBlock;
      if (!swap_pairs) {
        transform(block, valid, kb_dst, position_stride);
        continue;
      }
      float v[kWinogradPositionsMax][kKBlock];
      transform(block, valid, v, kKBlock);
      for (int p = 0; p < positions; ++p) {
        conv_operands::convert_block(v[p], kKBlock, kb_dst + p * position_stride,
                                     conv_operands::OperandRounding{false, true});
      }
    }
  }
}

// A tile's positions in the order of the weight matrices they use, built once per tile.
const std::vector<int>& positions_by_weights(WinogradTile tile) {
  static const auto orders = [] {
    std::array<std::vector<int>, kernels::kWinogradTiles> all;
    for (int index = 0; index < kernels::kWinogradTiles; ++index) {
      const auto t = WinogradTile(index + 1);  // winograd_index's inverse
      std::vector<int>& order = all[size_t(index)];
      order.resize(size_t(winograd_positions(t)));
      for (size_t p = 0; p < order.size(); ++p) order[p] = int(p);
      std::stable_sort(order.begin(), order.end(), [t](int a, int b) {
        return kernels::winograd_weight_of(t, a) < kernels::winograd_weight_of(t, b);
      });
    }
    return all;
  }();
  return orders[size_t(winograd_index(tile))];
}

using PackFn = void (*)(const Run&, int64_t, int, int, int, void*);

PackFn pack_function(kernels::OperandFormat operands) {
  return operands == kernels::OperandFormat::kBf16Pairs ? &pack_tiles<uint16_t>
                                                        : &pack_tiles<float>;
}

// The output transform of `tile` for panel columns, then the fused epilogue into the output.
void finish_tile(const Run& r, int64_t tile, const float* sums, int64_t sums_stride, int panel,
                 float* y) {
  const kernels::ConvKernel& k = *r.kernel;
  const Shape& out = r.output->shape();
  k.winograd_output[winograd_index(r.tile)](sums, sums_stride, k.nr, y);
  const int m = winograd_side(r.tile);
  const TilePosition at = locate(r.tile, tile, out);
  const bool bf16_out = r.output->dtype() == DataType::BFLOAT16;
  const size_t element = bf16_out ? 2 : 4;
  kernels::ConvTile t;
  t.bias = r.bias + int64_t(panel) * k.nr;
  t.columns = std::min(k.nr, r.out_columns - panel * k.nr);
  t.channels = out.c - panel * k.nr;
  t.activation = r.activation;
  t.rows = std::min(m, out.w - at.x);
  t.out_stride = r.output->pixel_stride();
  t.residual_stride = r.residual ? r.residual->pixel_stride() : 0;
  for (int dy = 0; dy < m && at.y + dy < out.h; ++dy) {
    const int64_t pixel = (int64_t(at.n) * out.h + at.y + dy) * out.w + at.x;
    t.a = y + dy * m * k.nr;
    t.out = r.output->data<std::byte>() + (pixel * t.out_stride + panel * k.nr) * element;
    t.residual = r.residual ? r.residual->data<std::byte>() +
                                  (pixel * t.residual_stride + panel * k.nr) * element
                            : nullptr;
    k.epilogue[bf16_out ? 1 : 0](t);
  }
}

}  // namespace

namespace {

// G of F(m, 3), (m + 2) x 3, for the tiles in kernels::WinogradTransform1d.
constexpr double kG2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
constexpr double kG4[6][3] = {{1.0 / 4, 0, 0},
                              {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                              {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                              {1.0 / 24, 1.0 / 12, 1.0 / 6},
                              {1.0 / 24, -1.0 / 12, 1.0 / 6},
                              {0, 0, 1}};
constexpr double kG6[8][3] = {{1, 0, 0},
                              {-2.0 / 9, -2.0 / 9, -2.0 / 9},
                              {-2.0 / 9, 2.0 / 9, -2.0 / 9},
                              {1.0 / 90, 1.0 / 45, 2.0 / 45},
                              {1.0 / 90, -1.0 / 45, 2.0 / 45},
                              {32.0 / 45, 16.0 / 45, 8.0 / 45},
                              {32.0 / 45, -16.0 / 45, 8.0 / 45},
                              {0, 0, 1}};

// Stride 2's G, one row per weight class, (m + 2) x 3 over (g0, g1, g2): F(m, 2)'s G on (g0, g2)
// for the m + 1 even positions (kernels::WinogradTransform1d), then g1, which every odd position
// takes.
constexpr double kG2S2[4][3] = {{1, 0, 0}, {1, 0, 1}, {0, 0, 1}, {0, 1, 0}};
constexpr double kG4S2[6][3] = {{1.0 / 2, 0, 0},
                                {1.0 / 2, 0, 1.0 / 2},
                                {1.0 / 6, 0, -1.0 / 6},
                                {1.0 / 6, 0, 1.0 / 3},
                                {0, 0, 1},
                                {0, 1, 0}};

const double (*g_matrix(WinogradTile tile))[3] {
  switch (tile) {
    case WinogradTile::kF2x2:
      return kG2;
    case WinogradTile::kF4x4:
      return kG4;
    case WinogradTile::kF2x2S2:
      return kG2S2;
    case WinogradTile::kF4x4S2:
      return kG4S2;
    default:
      return kG6;
  }
}

}  // namespace

std::vector<std::vector<float>> transform_weights(WinogradTile tile,
                                                  std::span<const float> weight_oihw,
                                                  int out_channels, int in_channels) {
  YOLO4_CHECK(tile != WinogradTile::kNone, "winograd: no tile given");
  YOLO4_CHECK(weight_oihw.size() == size_t(out_channels) * in_channels * 9,
              "winograd: expected 3x3 OIHW weights for ", out_channels, "x", in_channels);
  const double(*G)[3] = g_matrix(tile);
  const int classes = kernels::winograd_weight_classes_per_axis(tile);
  // Class c's matrix is that of position row (or column) c: stride 2's odd positions, which
  // share one, start at c = m + 1, G's last row.
  std::vector<std::vector<float>> u(kernels::winograd_weight_matrices(tile),
                                    std::vector<float>(size_t(out_channels) * in_channels));
  // Blocks of (output, input) channel pairs, each loop over the block's pairs, so that the
  // compiler vectorises them: this transform is a large part of a model's load time.
  constexpr int kBlock = 64;
  const int64_t pairs = int64_t(out_channels) * in_channels;
  for (int64_t p0 = 0; p0 < pairs; p0 += kBlock) {
    const int n = int(std::min<int64_t>(kBlock, pairs - p0));
    double g[9][kBlock];  // the block's taps, tap-major
    for (int q = 0; q < n; ++q)
      for (int t = 0; t < 9; ++t) g[t][q] = weight_oihw[size_t(p0 + q) * 9 + t];
    double gg[kernels::kWinogradInputSideMax][3][kBlock];  // G g, the rows the classes take
    for (int i = 0; i < classes; ++i)
      for (int j = 0; j < 3; ++j)
        for (int q = 0; q < n; ++q)
          gg[i][j][q] = G[i][0] * g[j][q] + G[i][1] * g[3 + j][q] + G[i][2] * g[6 + j][q];
    for (int i = 0; i < classes; ++i) {
      for (int j = 0; j < classes; ++j) {
        float* out = u[i * classes + j].data() + p0;
        for (int q = 0; q < n; ++q)
          out[q] = float(gg[i][0][q] * G[j][0] + gg[i][1][q] * G[j][1] + gg[i][2][q] * G[j][2]);
      }
    }
  }
  return u;
}

int64_t tile_count(WinogradTile tile, const Shape& out) {
  const int m = winograd_side(tile);
  return int64_t(out.n) * ceil_div(out.h, m) * ceil_div(out.w, m);
}

void run_share(const Run& r, const conv_operands::WorkRange& own, const NextWork& next_work) {
  const kernels::ConvKernel& k = *r.kernel;
  k.prepare_core();
  const int mr = k.mr, nr = k.nr;
  const int64_t tiles = tile_count(r.tile, r.output->shape());
  const int fill = k.tile_fill(tiles);  // tiles an MR-row holds
  const int positions = winograd_positions(r.tile), m = winograd_side(r.tile);
  const size_t operand = kernels::operand_bytes(k.operands);
  const PackFn pack = pack_function(k.operands);
  const int64_t mr_row_bytes = int64_t(r.kblocks) * mr * kKBlock * int64_t(operand);
  const int64_t sums_stride = int64_t(r.group_tiles) * mr * nr;  // between positions

  thread_local AlignedVector<float> packed, sums, y;
  thread_local std::array<AlignedVector<float>, kWinogradPositionsMax> weight_scratch;
  // Weights decoded (bfloat8_b) or widened (bf16) that stay in cache are done once per core,
  // every position's, rather than again for every block of tiles.
  const int panel_begin = own.panel_begin, share_panels = own.panel_end - own.panel_begin;
  const int matrices = int(r.weights.size());
  const bool decode_once = r.weights[0].decoded_per_chunk() &&
                           size_t(matrices) * share_panels * r.weights[0].decoded_panel_bytes() <=
                               size_t(k.blocking.decode_once_bytes);
  if (decode_once) {
    for (int u = 0; u < matrices; ++u) {
      r.weights[u].decode_panels(panel_begin, own.panel_end, weight_scratch[u]);
    }
  }
  // The positions in the order of the weights they use, so that positions sharing a matrix
  // (stride 2's) run one after another and read it from cache.
  const std::vector<int>& order = positions_by_weights(r.tile);
  int weight_of[kWinogradPositionsMax];  // the matrix order[i] uses, out of the GEMM loop
  for (int i = 0; i < positions; ++i) weight_of[i] = kernels::winograd_weight_of(r.tile, order[i]);
  packed.resize(size_t(positions * r.block_tiles * mr_row_bytes + 3) / 4);
  sums.resize(size_t(positions) * sums_stride);
  y.resize(size_t(m) * m * nr);

  // Only the share's panels were decoded once: others' (taken after the share's, when the
  // decoded ones are no longer needed) are decoded in their turn into the same scratch.
  const auto own_decoded = [&](int panel) { return decode_once && own.has_panel(panel); };
  const auto weights_of = [&](int u, int panel) {
    return own_decoded(panel) ? r.weights[u].chunk_of(weight_scratch[u], panel - panel_begin, 0)
                              : r.weights[u].chunk(panel, 0, r.kblocks, weight_scratch[u]);
  };
  // Weights decoded chunk by chunk are not there before their turn.
  const auto prefetchable = [&](int panel) {
    return own_decoded(panel) || !r.weights[0].decoded_per_chunk();
  };
  conv_operands::WorkRange packed_rows{0, 0, 0, 0};  // the block in `packed`
  while (const std::optional<conv_operands::WorkRange> work = next_work()) {
    const int b0 = work->tile_begin, b1 = work->tile_end;
    const int64_t first_tile = int64_t(b0) * fill;
    if (b0 != packed_rows.tile_begin || b1 != packed_rows.tile_end) {
      const int block_tiles = int(std::min<int64_t>(tiles, int64_t(b1) * fill) - first_tile);
      pack(r, first_tile, block_tiles, b1 - b0, fill, packed.data());
      packed_rows = {b0, b1, 0, 0};
    }
    const int64_t position_bytes = int64_t(b1 - b0) * mr_row_bytes;
    const std::byte* packed_bytes = reinterpret_cast<const std::byte*>(packed.data());

    for (int panel = work->panel_begin; panel < work->panel_end; ++panel) {
      const void* w[kWinogradPositionsMax];  // per matrix
      for (int u = 0; u < matrices; ++u) w[u] = weights_of(u, panel);
      // The share's next panel is the likely next one (others' come after the share's).
      const void* next_panel =
          own.has_panel(panel + 1) && prefetchable(panel + 1) ? weights_of(0, panel + 1) : nullptr;
      for (int g0 = b0; g0 < b1; g0 += r.group_tiles) {
        const int g1 = std::min(b1, g0 + r.group_tiles);
        kernels::ConvTile gemm;  // one GEMM per position: bare sums (no bias), no epilogue
        gemm.kblocks = r.kblocks;
        gemm.columns = nr;
        gemm.out_stride = nr;
        gemm.finalize = false;
        for (int i = 0; i < positions; ++i) {
          const int p = order[i], u = weight_of[i];
          gemm.w = w[u];
          // The next matrix's weights come from memory while this one's are reused.
          gemm.w_next = u + 1 < matrices ? w[u + 1] : g1 < b1 ? w[0] : next_panel;
          for (int t = g0; t < g1; ++t) {
            gemm.a = packed_bytes + p * position_bytes + (t - b0) * mr_row_bytes;
            gemm.out = sums.data() + p * sums_stride + (t - g0) * mr * nr;
            gemm.rows = k.tile_rows(tiles - int64_t(t) * fill, t + 1 < g1, fill);
            k.for_rows(gemm.rows, false)(gemm);
            if (gemm.rows > mr) ++t;  // the tall kernel ran the next tile's row too
          }
        }
        const int64_t group_first = int64_t(g0) * fill;
        const int64_t group_end = std::min<int64_t>(tiles, int64_t(g1) * fill);
        for (int64_t tile = group_first; tile < group_end; ++tile) {
          const int64_t row = (tile - group_first) / fill * mr + (tile - group_first) % fill;
          finish_tile(r, tile, sums.data() + row * nr, sums_stride, panel, y.data());
        }
      }
    }
  }
}

}  // namespace yolo4::winograd
