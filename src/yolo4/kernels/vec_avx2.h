// 8 float lanes of AVX2 + FMA. Include only from files compiled with AVX2 flags (__avx2).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace yolo4::kernels {

struct VecAvx2 {
  using T = __m256;
  static constexpr int kRegisters = 16;  // ymm0-15
  static constexpr int kLanes = 8;
  static T zero() { return _mm256_setzero_ps(); }
  static T set1(float x) { return _mm256_set1_ps(x); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static T load_partial(const float* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store(float* p, T x) { _mm256_storeu_ps(p, x); }
  static void store_partial(float* p, T x, int n) { _mm256_maskstore_ps(p, mask(n), x); }
  static T broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T fnma(T a, T b, T c) { return _mm256_fnmadd_ps(a, b, c); }  // c - a * b
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T mul(T a, T b) { return _mm256_mul_ps(a, b); }
  static T div(T a, T b) { return _mm256_div_ps(a, b); }
  static T rcp(T x) { return _mm256_rcp_ps(x); }  // 1/x, relative error < 1.5 * 2^-12
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
  static T round(T x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // 2^(k / 8) for y = kRoundMagic + k (|k| < 2^11, k / 8 a normal float's exponent): the low bits
  // of y's representation are k's, so fractions[k & 7] (= 2^((k & 7) / 8)) is looked up by them
  // and k >> 3 added to its exponent, without converting k.
  static T exp2_eighths(T y, const float* fractions) {
    const __m256i bits = _mm256_castps_si256(y);
    const __m256 fraction = _mm256_permutevar8x32_ps(_mm256_loadu_ps(fractions), bits);
    const __m256i exponent =
        _mm256_and_si256(_mm256_slli_epi32(bits, 20), _mm256_set1_epi32(int(0xff800000u)));
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(fraction), exponent));
  }
  static T ldexp(T y, T n) {
    const __m256i bits =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(bits));
  }
  // x rounded to bfloat16 (to nearest even), as a float.
  static T round_bf16(T x) {
    return _mm256_castsi256_ps(
        _mm256_and_si256(bf16_rounded_bits(x), _mm256_set1_epi32(int(0xffff0000u))));
  }
  // x in lanes [0, n), +0 in the others; 0 < n < kLanes.
  static T keep_first(T x, int n) { return _mm256_and_ps(x, _mm256_castsi256_ps(mask(n))); }

  // bfloat16 <-> float: widening is exact; narrowing rounds to nearest even.
  static T load_bf16(const uint16_t* p, int n = kLanes) {
    alignas(16) uint16_t tmp[kLanes] = {};
    const uint16_t* src = p;
    if (n < kLanes) {
      for (int i = 0; i < n; ++i) tmp[i] = p[i];
      src = tmp;
    }
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }

  // Element `odd` (0: the low half) of 8 bf16 pairs, as floats.
  static T load_pair_element(const uint32_t* p, int odd) {
    return pair_element(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), odd);
  }
  // Element `odd` of one bf16 pair, as a float in every lane.
  static T broadcast_pair_element(uint32_t pair, int odd) {
    return pair_element(_mm256_set1_epi32(int(pair)), odd);
  }
  static T pair_element(__m256i pairs, int odd) {
    return _mm256_castsi256_ps(odd ? _mm256_and_si256(pairs, _mm256_set1_epi32(int(0xffff0000u)))
                                   : _mm256_slli_epi32(pairs, 16));
  }
  static void store_bf16(uint16_t* p, T x, int n = kLanes) {
    const __m256i rounded = _mm256_srli_epi32(bf16_rounded_bits(x), 16);
    // Narrow 8 x 32 to 8 x 16 bits: pack within 128-bit lanes, then gather the two halves.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(rounded, rounded), 0x08);
    if (n >= kLanes) {  // the epilogue's common case: one store
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
      return;
    }
    alignas(16) uint16_t tmp[kLanes];
    _mm_store_si128(reinterpret_cast<__m128i*>(tmp), _mm256_castsi256_si128(packed));
    for (int i = 0; i < (n < kLanes ? n : kLanes); ++i) p[i] = tmp[i];
  }

 private:
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  // x's bits with the upper 16 rounded to nearest even; a NaN's instead quieted, as to_bfloat16
  // does (rounding would carry its payload into the exponent and sign: 0x7fffffff became -0).
  static __m256i bf16_rounded_bits(T x) {
    const __m256i bits = _mm256_castps_si256(x);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    const __m256i rounded =
        _mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff)));
    const __m256i quiet_nan = _mm256_or_si256(bits, _mm256_set1_epi32(0x400000));
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(rounded),
                                                _mm256_castsi256_ps(quiet_nan),
                                                _mm256_cmp_ps(x, x, _CMP_UNORD_Q)));
  }
};

}  // namespace yolo4::kernels
