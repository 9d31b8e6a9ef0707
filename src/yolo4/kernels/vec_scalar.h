// One float lane of portable C++: the fallback that runs on any CPU.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "yolo4/core/dtype.h"

namespace yolo4::kernels {

struct VecScalar {
  using T = float;
  static constexpr int kRegisters = 16;  // xmm0-15, where scalar floats live
  static constexpr int kLanes = 1;
  static T zero() { return 0.0f; }
  static T set1(float x) { return x; }
  static T load(const float* p) { return *p; }
  static T load_partial(const float* p, int n) { return n > 0 ? *p : 0.0f; }
  static void store(float* p, T x) { *p = x; }
  static void store_partial(float* p, T x, int n) {
    if (n > 0) *p = x;
  }
  static T broadcast(const float* p) { return *p; }
  static T fma(T a, T b, T c) { return std::fma(a, b, c); }
  static T fnma(T a, T b, T c) { return std::fma(-a, b, c); }  // c - a * b
  static T add(T a, T b) { return a + b; }
  static T sub(T a, T b) { return a - b; }
  static T mul(T a, T b) { return a * b; }
  static T div(T a, T b) { return a / b; }
  static T rcp(T x) { return 1.0f / x; }  // no estimate instruction: the division
  // As minps / maxps: b when either is NaN (std::min and std::max return a), so that every
  // ISA treats NaN alike.
  static T min(T a, T b) { return a < b ? a : b; }
  static T max(T a, T b) { return a > b ? a : b; }
  static T round(T x) { return std::nearbyint(x); }
  // As VecAvx2::exp2_eighths.
  static T exp2_eighths(T y, const float* fractions) {
    uint32_t bits, fraction;
    std::memcpy(&bits, &y, 4);
    std::memcpy(&fraction, &fractions[bits & 7], 4);
    const uint32_t scaled = fraction + ((bits << 20) & 0xff800000u);
    T result;
    std::memcpy(&result, &scaled, 4);
    return result;
  }
  static T ldexp(T y, T n) { return std::ldexp(y, int(n)); }
  static T round_bf16(T x) { return to_float(to_bfloat16(x)); }
  static T keep_first(T x, int n) { return n > 0 ? x : 0.0f; }  // never called: one lane

  static T load_bf16(const uint16_t* p, int n = 1) { return n > 0 ? to_float(bfloat16{*p}) : 0.0f; }
  // Element `odd` (0: the low half) of one bf16 pair.
  static T load_pair_element(const uint32_t* p, int odd) { return broadcast_pair_element(*p, odd); }
  static T broadcast_pair_element(uint32_t pair, int odd) {
    return to_float(bfloat16{uint16_t(pair >> (odd ? 16 : 0))});
  }
  static void store_bf16(uint16_t* p, T x, int n = 1) {
    if (n > 0) *p = to_bfloat16(x).bits;
  }
};

}  // namespace yolo4::kernels
