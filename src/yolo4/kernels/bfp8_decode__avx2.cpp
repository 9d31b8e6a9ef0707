// bfloat8_b weights to bf16 pairs or to fp32 operands with AVX2 (compiled with AVX2 flags;
// chosen at run time from cpuid).
#include <immintrin.h>

#include "yolo4/kernels/kernels.h"

namespace yolo4::kernels {

namespace {

// Eight lanes per step, in two halves of eight values: the value bytes of one pair row become
// fp32 values m x 2^(e - 133), exact and normal for 7 <= e <= 254 (so also exact bf16 values);
// store(j, lane0, f) gets them as f[0] = lanes 0-3 and f[1] = lanes 4-7, each lane's even value
// then its odd one.
template <class Store>
void decode_blocks(const uint8_t* exponents, const uint8_t* values, int lanes, Store store) {
  const __m256i magnitude_mask = _mm256_set1_epi32(0x7f);
  for (int lane0 = 0; lane0 < lanes; lane0 += 8) {
    // 2^(e - 133) has the float bits (e - 6) << 23, one exponent for both values of a lane's
    // pair. Saturating at 0 gives e <= 6 a zero scale, so all-zero blocks decode to +0.
    const __m128i e8 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(exponents + lane0));
    const __m128i e = _mm_subs_epu8(_mm_unpacklo_epi8(e8, e8), _mm_set1_epi8(6));
    const __m256 scale[2] = {
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu8_epi32(e), 23)),
        _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(e, 8)), 23))};
    for (int j = 0; j < kKBlock / 2; ++j) {
      const __m128i bytes = _mm_loadu_si128(
          reinterpret_cast<const __m128i*>(values + (size_t(j) * lanes + lane0) * 2));
      __m256 f[2];
      for (int half = 0; half < 2; ++half) {
        const __m256i x = _mm256_cvtepu8_epi32(half == 0 ? bytes : _mm_srli_si128(bytes, 8));
        // VPSIGND negates m where the sign bit (moved to bit 31) is set: as integers, so m = 0
        // stays +0 whatever its sign bit, as in decode_bfp8_bf16.
        const __m256i m =
            _mm256_sign_epi32(_mm256_and_si256(x, magnitude_mask), _mm256_slli_epi32(x, 24));
        f[half] = _mm256_mul_ps(_mm256_cvtepi32_ps(m), scale[half]);
      }
      store(j, lane0, f);
    }
  }
}

}  // namespace

void bfp8_decode_pairs__avx2(const uint8_t* exponents, const uint8_t* values, int lanes,
                             uint32_t* dst) {
  decode_blocks(exponents, values, lanes, [&](int j, int lane0, const __m256(&f)[2]) {
    const __m256i bits[2] = {_mm256_srli_epi32(_mm256_castps_si256(f[0]), 16),
                             _mm256_srli_epi32(_mm256_castps_si256(f[1]), 16)};
    // PACKUSDW packs within 128-bit halves; the permute puts the eight pairs back in order.
    const __m256i bf16 = _mm256_permute4x64_epi64(_mm256_packus_epi32(bits[0], bits[1]), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + size_t(j) * lanes + lane0), bf16);
  });
}

void bfp8_decode_f32__avx2(const uint8_t* exponents, const uint8_t* values, int lanes, float* dst) {
  decode_blocks(exponents, values, lanes, [&](int j, int lane0, const __m256(&f)[2]) {
    // SHUFPS picks the even (odd) values within 128-bit halves, lanes 0 1 4 5 | 2 3 6 7; the
    // permute puts them in lane order.
    const __m256 even = _mm256_shuffle_ps(f[0], f[1], _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 odd = _mm256_shuffle_ps(f[0], f[1], _MM_SHUFFLE(3, 1, 3, 1));
    float* row = dst + size_t(2 * j) * lanes + lane0;
    _mm256_storeu_ps(row, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), 0xd8)));
    _mm256_storeu_ps(row + lanes,
                     _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(odd), 0xd8)));
  });
}

}  // namespace yolo4::kernels
