// LoFi conv kernel: bf16 x bf16 products accumulated in fp32 with VDPBF16PS (AVX512_BF16).
// Compiled with AVX-512 flags; dispatch uses it only where cpuid reports AVX512_BF16.
#include "yolo4/kernels/f32_kernels.h"
#include "yolo4/kernels/vec_avx512.h"

namespace yolo4::kernels {

void bfp8_decode_pairs__avx512(const uint8_t* exponents, const uint8_t* values, int lanes,
                               uint32_t* dst);

namespace {

// Same outer product as the f32 kernel, on pairs: each step broadcasts ROWS pairs of A (of its
// MR packed rows, or MR + 1 for the tall kernel; or the input in place, Rows = WindowRows or
// PixelRows) and multiplies them with NRV vectors of 16 weight pairs; twice the FLOPs per
// instruction.
template <int MR, int NRV, class OutT, int ROWS = MR, class Rows = PackedRows<MR>>
void bf16_conv_ukernel(const ConvTile& t) {
  constexpr int NR = NRV * 16;
  static_assert(Rows::kStepValues % 2 == 0);
  constexpr int kPairsPerStep = Rows::kStepValues / 2;
  __m512 acc[ROWS][NRV];
#pragma GCC unroll 16
  for (int m = 0; m < ROWS; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NRV; ++v) acc[m][v] = _mm512_setzero_ps();

  const uint16_t* a = static_cast<const uint16_t*>(t.a);
  const int64_t spacing = Rows::spacing(t);
  const uint16_t* w = static_cast<const uint16_t*>(t.w);
  const uintptr_t ahead = prefetch_distance(t);
  for (int kb = 0; kb < t.kblocks; ++kb) {
    const uint16_t* row_at[ROWS];
    point_rows<Rows>(a, spacing, t, row_at);
    const uintptr_t w_ahead = prefetch_origin(w, ahead);
#pragma GCC unroll 8
    for (int j = 0; j < kPairsPerStep; ++j) {
      prefetch_weights<2 * NR * sizeof(uint16_t)>(w_ahead, j * 2 * NR * sizeof(uint16_t));
      __m512bh wv[NRV];
#pragma GCC unroll 4
      for (int v = 0; v < NRV; ++v) wv[v] = (__m512bh)_mm512_loadu_si512(w + v * 32);
      const uint16_t* base = step_base<Rows>(row_at[0], 2 * j);
#pragma GCC unroll 16
      for (int m = 0; m < ROWS; ++m) {
        int32_t pair;
        __builtin_memcpy(&pair, step_operand<Rows>(row_at, base, m, 2 * j), 4);
        const __m512bh av = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 4
        for (int v = 0; v < NRV; ++v) acc[m][v] = _mm512_dpbf16_ps(acc[m][v], av, wv[v]);
      }
      w += 2 * NR;
    }
    a += Rows::outer_step(t);
  }
  store_sums_or_tile<VecAvx512Bf16, ROWS, NRV, OutT>(acc, t);
}

template <int MR, int NRV, class Rows = PackedRows<MR>>
struct Bf16ConvFamily {
  using Vec = VecAvx512Bf16;
  static constexpr int kMr = MR, kNrv = NRV;
  template <class OutT, int ROWS>
  static constexpr ConvTileFn kernel = &bf16_conv_ukernel<MR, NRV, OutT, ROWS, Rows>;
  template <class OutT, int kPixelStep>
  static constexpr ConvTileFn window =
      &bf16_conv_ukernel<MR, NRV, OutT, MR, WindowRows<kPixelStep, kWindowPairRowValues>>;
};

// VDPBF16PS at its peak: kFmaChains independent chains, each step adding 1 x 2^-10 twice to
// every lane of every chain (bf16 0x3f80 and 0x3a80), so that n steps return exactly
// 66 + 12 n / 512 (chain c starts at c) and a test can tell that every chain ran.
float bf16_dot_loop(int64_t iterations) {
  __m512 acc[kFmaChains];
  for (int c = 0; c < kFmaChains; ++c) acc[c] = _mm512_set1_ps(float(c));
  const __m512bh ones = (__m512bh)_mm512_set1_epi32(0x3f803f80);
  const __m512bh scale = (__m512bh)_mm512_set1_epi32(0x3a803a80);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kFmaChains; ++c) acc[c] = _mm512_dpbf16_ps(acc[c], ones, scale);
  }
  __m512 sum = _mm512_setzero_ps();
  for (int c = 0; c < kFmaChains; ++c) sum = _mm512_add_ps(sum, acc[c]);
  return _mm512_cvtss_f32(sum);
}

template <int MR, int NRV>
constexpr ConvKernel bf16_conv_kernel(const char* name) {
  ConvKernel k;
  k.run[0] = &bf16_conv_ukernel<MR, NRV, float>;
  k.run[1] = &bf16_conv_ukernel<MR, NRV, uint16_t>;
  set_shorter_kernels<Bf16ConvFamily<MR, NRV>>(k);
  set_tall_kernels<Bf16ConvFamily<MR, NRV>>(k);
  set_window_kernels<Bf16ConvFamily<MR, NRV>>(k);
  // bf16 pairs are a bf16 input's channels side by side: a pointwise conv reads them in place.
  set_family_kernels<Bf16ConvFamily<MR, NRV, PixelRows>>(k.in_place, true);
  set_conv_kernel_common<VecAvx512Bf16, NRV, uint16_t>(k, MR, OperandFormat::kBf16Pairs, name);
  k.bfp8_decode_pairs = &bfp8_decode_pairs__avx512;
  k.product_loop = &bf16_dot_loop;
  k.product_flops_per_step = kFmaChains * 16 * 2 * 2;  // chains x lanes x pairs x (mul + add)
  return k;
}

}  // namespace

extern const ConvKernel bf16_conv_12x32__avx512bf16 =
    bf16_conv_kernel<12, 2>("bf16_conv_12x32__avx512bf16");

}  // namespace yolo4::kernels
