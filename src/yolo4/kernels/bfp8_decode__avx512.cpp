// bfloat8_b weights to bf16 pairs or to fp32 operands with AVX-512 (compiled with AVX-512 flags;
// chosen at run time from cpuid).
#include <immintrin.h>

#include "yolo4/kernels/kernels.h"

namespace yolo4::kernels {

namespace {

// GCC 12's unmasked forms of several of these warn (see VecAvx512); all-lanes masks do not.
constexpr __mmask16 kAll = 0xffff;

// Eight lanes per step: the 16 value bytes of one pair row become 16 fp32 values m x 2^(e - 133),
// exact and normal for 7 <= e <= 254 (so also exact bf16 values); store(j, lane0, f) gets them
// in the bytes' order, each lane's even value then its odd one.
template <class Store>
void decode_blocks(const uint8_t* exponents, const uint8_t* values, int lanes, Store store) {
  const __m512i magnitude_mask = _mm512_set1_epi32(0x7f);
  const __m512i sign_mask = _mm512_set1_epi32(0x80);
  for (int lane0 = 0; lane0 < lanes; lane0 += 8) {
    // 2^(e - 133) has the float bits (e - 6) << 23, one exponent for both values of a lane's
    // pair. Saturating at 0 gives e <= 6 a zero scale, so all-zero blocks decode to +0.
    const __m128i e8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(exponents + lane0));
    const __m128i e = _mm_subs_epu8(_mm_unpacklo_epi8(e8, e8), _mm_set1_epi8(6));
    const __m512 scale =
        _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll, _mm512_maskz_cvtepu8_epi32(kAll, e), 23));
    for (int j = 0; j < kKBlock / 2; ++j) {
      const __m512i x = _mm512_maskz_cvtepu8_epi32(
          kAll, _mm_loadu_si128(
                    reinterpret_cast<const __m128i*>(values + (size_t(j) * lanes + lane0) * 2)));
      // Negated as integers, so m = 0 stays +0 whatever its sign bit, as in decode_bfp8_bf16.
      const __m512i m = _mm512_and_si512(x, magnitude_mask);
      const __m512i signed_m =
          _mm512_mask_sub_epi32(m, _mm512_test_epi32_mask(x, sign_mask), _mm512_setzero_si512(), m);
      store(j, lane0, _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(kAll, signed_m), scale));
    }
  }
}

}  // namespace

void bfp8_decode_pairs__avx512(const uint8_t* exponents, const uint8_t* values, int lanes,
                               uint32_t* dst) {
  decode_blocks(exponents, values, lanes, [&](int j, int lane0, __m512 f) {
    const __m256i bf16 = _mm512_maskz_cvtepi32_epi16(
        kAll, _mm512_maskz_srli_epi32(kAll, _mm512_castps_si512(f), 16));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + size_t(j) * lanes + lane0), bf16);
  });
}

void bfp8_decode_f32__avx512(const uint8_t* exponents, const uint8_t* values, int lanes,
                             float* dst) {
  // The even values to the low half, the odd ones to the high half.
  const __m512i deinterleave =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  decode_blocks(exponents, values, lanes, [&](int j, int lane0, __m512 f) {
    const __m512d halves = _mm512_castps_pd(_mm512_maskz_permutexvar_ps(kAll, deinterleave, f));
    float* row = dst + size_t(2 * j) * lanes + lane0;
    _mm256_storeu_pd(reinterpret_cast<double*>(row), _mm512_maskz_extractf64x4_pd(0xff, halves, 0));
    _mm256_storeu_pd(reinterpret_cast<double*>(row + lanes),
                     _mm512_maskz_extractf64x4_pd(0xff, halves, 1));
  });
}

}  // namespace yolo4::kernels
