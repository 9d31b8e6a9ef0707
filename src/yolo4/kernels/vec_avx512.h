// 16 float lanes of AVX-512. Include only from files compiled with AVX-512 flags (__avx512).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace yolo4::kernels {

struct VecAvx512 {
  using T = __m512;
  static constexpr int kRegisters = 32;  // zmm0-31
  static constexpr int kLanes = 16;
  static constexpr __mmask16 kAll = 0xffff;
  static T zero() { return _mm512_setzero_ps(); }
  static T set1(float x) { return _mm512_set1_ps(x); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static T load_partial(const float* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store(float* p, T x) { _mm512_storeu_ps(p, x); }
  static void store_partial(float* p, T x, int n) { _mm512_mask_storeu_ps(p, mask(n), x); }
  static T broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T fnma(T a, T b, T c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a * b
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T sub(T a, T b) { return _mm512_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm512_mul_ps(a, b); }
  static T div(T a, T b) { return _mm512_div_ps(a, b); }
  static T rcp(T x) { return _mm512_maskz_rcp14_ps(kAll, x); }  // 1/x, relative error < 2^-14
  // GCC 12's unmasked forms of these start from an undefined vector and warn; the all-lanes
  // masked forms compute the same thing.
  static T min(T a, T b) { return _mm512_mask_min_ps(a, kAll, a, b); }
  static T max(T a, T b) { return _mm512_mask_max_ps(a, kAll, a, b); }
  static T round(T x) {
    return _mm512_mask_roundscale_ps(x, kAll, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  // As VecAvx2::exp2_eighths; fractions holds the 8 values twice (the lookup takes 4 bits).
  static T exp2_eighths(T y, const float* fractions) {
    const __m512i bits = _mm512_castps_si512(y);
    // The masked forms with a defined source, as in ldexp: GCC 12 warns of the plain ones'
    // undefined source.
    const __m512 table = _mm512_loadu_ps(fractions);
    const __m512 fraction = _mm512_mask_permutexvar_ps(table, kAll, bits, table);
    const __m512i exponent = _mm512_and_si512(_mm512_mask_slli_epi32(bits, kAll, bits, 20),
                                              _mm512_set1_epi32(int(0xff800000u)));
    return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(fraction), exponent));
  }
  static T ldexp(T y, T n) { return _mm512_mask_scalef_ps(y, kAll, y, n); }  // y * 2^n
  // x rounded to bfloat16 (to nearest even), as a float.
  static T round_bf16(T x) {
    return _mm512_castsi512_ps(
        _mm512_and_si512(bf16_rounded_bits(x), _mm512_set1_epi32(int(0xffff0000u))));
  }
  // x in lanes [0, n), +0 in the others; 0 < n < kLanes.
  static T keep_first(T x, int n) { return _mm512_maskz_mov_ps(mask(n), x); }

  // bfloat16 <-> float: widening is exact; narrowing rounds to nearest even. (Zero-masked
  // forms for the same GCC 12 reason as above.)
  static T load_bf16(const uint16_t* p, int n = kLanes) {
    const __m256i h = n >= kLanes ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                                  : _mm256_maskz_loadu_epi16(mask(n), p);
    return _mm512_castsi512_ps(
        _mm512_maskz_slli_epi32(kAll, _mm512_maskz_cvtepu16_epi32(kAll, h), 16));
  }

  // Element `odd` (0: the low half) of 16 bf16 pairs, as floats.
  static T load_pair_element(const uint32_t* p, int odd) {
    return pair_element(_mm512_loadu_si512(p), odd);
  }
  // Element `odd` of one bf16 pair, as a float in every lane.
  static T broadcast_pair_element(uint32_t pair, int odd) {
    return pair_element(_mm512_set1_epi32(int(pair)), odd);
  }
  static T pair_element(__m512i pairs, int odd) {
    return _mm512_castsi512_ps(odd ? _mm512_and_si512(pairs, _mm512_set1_epi32(int(0xffff0000u)))
                                   : _mm512_maskz_slli_epi32(kAll, pairs, 16));
  }
  static void store_bf16(uint16_t* p, T x, int n = kLanes) {
    const __m512i rounded = bf16_rounded_bits(x);
    const __m256i h = _mm512_maskz_cvtepi32_epi16(kAll, _mm512_maskz_srli_epi32(kAll, rounded, 16));
    store_first(p, h, n);
  }

 protected:
  static __mmask16 mask(int n) { return __mmask16((1u << n) - 1u); }
  // x's bits with the upper 16 rounded to nearest even; a NaN's instead quieted, as to_bfloat16
  // does (rounding would carry its payload into the exponent and sign: 0x7fffffff became -0).
  static __m512i bf16_rounded_bits(T x) {
    const __m512i bits = _mm512_castps_si512(x);
    const __m512i lsb =
        _mm512_and_si512(_mm512_maskz_srli_epi32(kAll, bits, 16), _mm512_set1_epi32(1));
    const __m512i rounded =
        _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
    return _mm512_mask_or_epi32(rounded, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), bits,
                                _mm512_set1_epi32(0x400000));
  }
  // The first n of 16 bf16 values.
  static void store_first(uint16_t* p, __m256i h, int n) {
    if (n >= kLanes) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), h);
    } else {
      _mm256_mask_storeu_epi16(p, mask(n), h);
    }
  }
};

// VecAvx512 storing bfloat16 with AVX512_BF16's own conversion (VCVTNEPS2BF16: to nearest even in
// one instruction, as VecAvx512's integer sequence does for normal values; denormals become signed
// zeros, as the thread pool's FTZ/DAZ makes them anyway, and NaNs quiet NaNs), for code that runs
// only where cpuid reports AVX512_BF16: the VDPBF16PS kernel's epilogue and transforms.
struct VecAvx512Bf16 : VecAvx512 {
  static void store_bf16(uint16_t* p, T x, int n = kLanes) {
    store_first(p, (__m256i)_mm512_cvtneps_pbh(x), n);
  }
};

}  // namespace yolo4::kernels
