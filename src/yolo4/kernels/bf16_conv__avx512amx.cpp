// LoFi conv kernel on AMX tiles (AMX-BF16): TDPBF16PS multiplies a tile of 16 rows of bf16
// activations with a tile of 16 columns of bf16 weight pairs, accumulating in fp32 tile
// registers. It reads the VDPBF16PS kernel's operands as they are packed: A [kblocks][MR][16]
// is, per reduction block, MR rows of 32 bytes (an A tile of 16 rows, K = 16), and W
// [k/2][NR][2] is, per block, 8 pair rows of which each 16 columns make a B tile.
// Compiled with AVX-512 and AMX flags; dispatch uses it only where cpu_features().amx_bf16.
#include "yolo4/kernels/f32_kernels.h"
#include "yolo4/kernels/vec_avx512.h"

namespace yolo4::kernels {

void bfp8_decode_pairs__avx512(const uint8_t* exponents, const uint8_t* values, int lanes,
                               uint32_t* dst);

namespace {

// A 2 x 2 grid of 16 x 16 fp32 accumulator tiles: each A tile meets both B tiles and each B tile
// both A tiles, the 8 tile registers all used (one tile of rows, the 16-row variant, runs at
// 0.94x its GFLOP/s at K = 256 and 0.74x at K = 1024: ukernel_bench, a Xeon).
constexpr int kTileRows = 16;
constexpr int kRowTiles = 2;
constexpr int kMr = kRowTiles * kTileRows;
constexpr int kTileColumns = 16;  // fp32 sums of a C tile row, bf16 pairs of a B tile row
constexpr int kNrv = 2;           // column tiles: a 512-bit vector each
constexpr int kNr = kNrv * kTileColumns;
constexpr int kPairRows = kKBlock / 2;  // B tile rows per reduction block

// The registers: C[r][c] is tmm(2r + c), A[r] tmm(4 + r), B[c] tmm(6 + c).
constexpr int c_tile(int r, int c) {
  return 2 * r + c;
}
constexpr int a_tile(int r) {
  return 4 + r;
}
constexpr int b_tile(int c) {
  return 6 + c;
}

// The tile instructions on registers chosen at compile time. GCC's intrinsics paste the register
// number as written (no constant expressions) and tell the compiler of no memory access.
template <int Dst>
[[gnu::always_inline]] inline void tile_zero() {
  __asm__ volatile("tilezero %%tmm%c0" ::"i"(Dst));
}
template <int Dst>
[[gnu::always_inline]] inline void tile_load(const void* base, int64_t stride) {
  __asm__ volatile("tileloadd (%0,%1,1), %%tmm%c2" ::"r"(base), "r"(stride), "i"(Dst) : "memory");
}
template <int Src>
[[gnu::always_inline]] inline void tile_store(void* base, int64_t stride) {
  __asm__ volatile("tilestored %%tmm%c0, (%1,%2,1)" ::"i"(Src), "r"(base), "r"(stride) : "memory");
}
// C += A x B on bf16 pairs, fp32 sums (TDPBF16PS; AT&T order: B, A, C).
template <int C, int A, int B>
[[gnu::always_inline]] inline void tile_dpbf16ps() {
  __asm__ volatile("tdpbf16ps %%tmm%c0, %%tmm%c1, %%tmm%c2" ::"i"(B), "i"(A), "i"(C));
}

// LDTILECFG's 64-byte operand (palette 1).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t row_bytes[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64, "LDTILECFG reads 64 bytes");

constexpr TileConfig conv_tile_config() {
  TileConfig config;
  for (int r = 0; r < kRowTiles; ++r) {
    for (int c = 0; c < kNrv; ++c) {
      config.rows[c_tile(r, c)] = kTileRows;
      config.row_bytes[c_tile(r, c)] = kTileColumns * sizeof(float);
    }
    config.rows[a_tile(r)] = kTileRows;
    config.row_bytes[a_tile(r)] = kKBlock * sizeof(uint16_t);
  }
  for (int c = 0; c < kNrv; ++c) {
    config.rows[b_tile(c)] = kPairRows;
    config.row_bytes[b_tile(c)] = kTileColumns * 2 * sizeof(uint16_t);
  }
  return config;
}

void load_conv_tile_config() {
  static constexpr TileConfig kConfig = conv_tile_config();
  _tile_loadconfig(&kConfig);
}

// ROW_TILES x 2 tiles of the output: ROW_TILES = 1 computes only the first 16 rows (the shorter
// variant, for a conv's last tile). Packed rows past the valid ones are zeros; only the valid ones
// are stored.
template <int ROW_TILES, class OutT>
void amx_bf16_conv_ukernel(const ConvTile& t) {
  tile_zero<c_tile(0, 0)>();
  tile_zero<c_tile(0, 1)>();
  if constexpr (ROW_TILES == 2) {
    tile_zero<c_tile(1, 0)>();
    tile_zero<c_tile(1, 1)>();
  }
  constexpr int64_t kAStride = kKBlock * sizeof(uint16_t);
  constexpr int64_t kWStride = kNr * 2 * sizeof(uint16_t);
  const uint16_t* a = static_cast<const uint16_t*>(t.a);
  const uint16_t* w = static_cast<const uint16_t*>(t.w);
  const uintptr_t ahead = prefetch_distance(t);
  for (int kb = 0; kb < t.kblocks; ++kb) {
    prefetch_weights<kPairRows * kWStride>(prefetch_origin(w, ahead), 0);
    tile_load<a_tile(0)>(a, kAStride);
    if constexpr (ROW_TILES == 2) tile_load<a_tile(1)>(a + kTileRows * kKBlock, kAStride);
    tile_load<b_tile(0)>(w, kWStride);
    tile_load<b_tile(1)>(w + kTileColumns * 2, kWStride);
    tile_dpbf16ps<c_tile(0, 0), a_tile(0), b_tile(0)>();
    tile_dpbf16ps<c_tile(0, 1), a_tile(0), b_tile(1)>();
    if constexpr (ROW_TILES == 2) {
      tile_dpbf16ps<c_tile(1, 0), a_tile(1), b_tile(0)>();
      tile_dpbf16ps<c_tile(1, 1), a_tile(1), b_tile(1)>();
    }
    a += kMr * kKBlock;
    w += kPairRows * kNr * 2;
  }
  constexpr int kRows = ROW_TILES * kTileRows;
  __m512 acc[kRows][kNrv];
  constexpr int64_t kAccStride = kNrv * sizeof(__m512);
  tile_store<c_tile(0, 0)>(&acc[0][0], kAccStride);
  tile_store<c_tile(0, 1)>(&acc[0][1], kAccStride);
  if constexpr (ROW_TILES == 2) {
    tile_store<c_tile(1, 0)>(&acc[kTileRows][0], kAccStride);
    tile_store<c_tile(1, 1)>(&acc[kTileRows][1], kAccStride);
  }
  store_sums_or_tile<VecAvx512, kRows, kNrv, OutT>(acc, t);
}

constexpr ConvKernel amx_bf16_conv_kernel(const char* name) {
  ConvKernel k;
  k.run[0] = &amx_bf16_conv_ukernel<kRowTiles, float>;
  k.run[1] = &amx_bf16_conv_ukernel<kRowTiles, uint16_t>;
  k.run_rows[0][0] = &amx_bf16_conv_ukernel<1, float>;
  k.run_rows[0][1] = &amx_bf16_conv_ukernel<1, uint16_t>;
  k.row_step = kTileRows;
  k.prepare = &load_conv_tile_config;
  set_conv_kernel_common<VecAvx512, kNrv, uint16_t>(k, kMr, OperandFormat::kBf16Pairs, name);
  k.bfp8_decode_pairs = &bfp8_decode_pairs__avx512;
  return k;
}

}  // namespace

extern const ConvKernel bf16_conv_32x32__avx512amx =
    amx_bf16_conv_kernel("bf16_conv_32x32__avx512amx");

}  // namespace yolo4::kernels
