// N vectors of a vector type as one, for vec_math.h's functions: each operation runs on the N
// vectors in turn, so an activation written for one vector interleaves N independent dependency
// chains for the core to overlap.
#pragma once

namespace yolo4::kernels {

template <class V, int N>
struct VecGroup {
  struct T {
    typename V::T v[N];
  };

  // f applied to the i-th vector of each argument, for every i.
  template <class F, class... Args>
  [[gnu::always_inline]] static T each(F f, const Args&... args) {
    T r;
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) r.v[i] = f(args.v[i]...);
    return r;
  }

  [[gnu::always_inline]] static T set1(float x) {
    T r;
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) r.v[i] = V::set1(x);
    return r;
  }
  [[gnu::always_inline]] static T zero() {
    return set1(0.0f);
  }
  [[gnu::always_inline]] static T add(const T& a, const T& b) {
    return each([](auto x, auto y) { return V::add(x, y); }, a, b);
  }
  [[gnu::always_inline]] static T sub(const T& a, const T& b) {
    return each([](auto x, auto y) { return V::sub(x, y); }, a, b);
  }
  [[gnu::always_inline]] static T mul(const T& a, const T& b) {
    return each([](auto x, auto y) { return V::mul(x, y); }, a, b);
  }
  [[gnu::always_inline]] static T div(const T& a, const T& b) {
    return each([](auto x, auto y) { return V::div(x, y); }, a, b);
  }
  [[gnu::always_inline]] static T min(const T& a, const T& b) {
    return each([](auto x, auto y) { return V::min(x, y); }, a, b);
  }
  [[gnu::always_inline]] static T max(const T& a, const T& b) {
    return each([](auto x, auto y) { return V::max(x, y); }, a, b);
  }
  [[gnu::always_inline]] static T ldexp(const T& y, const T& n) {
    return each([](auto a, auto b) { return V::ldexp(a, b); }, y, n);
  }
  [[gnu::always_inline]] static T exp2_eighths(const T& y, const float* fractions) {
    return each([fractions](auto a) { return V::exp2_eighths(a, fractions); }, y);
  }
  [[gnu::always_inline]] static T fma(const T& a, const T& b, const T& c) {
    return each([](auto x, auto y, auto z) { return V::fma(x, y, z); }, a, b, c);
  }
  [[gnu::always_inline]] static T fnma(const T& a, const T& b, const T& c) {
    return each([](auto x, auto y, auto z) { return V::fnma(x, y, z); }, a, b, c);
  }
  [[gnu::always_inline]] static T rcp(const T& a) {
    return each([](auto x) { return V::rcp(x); }, a);
  }
  [[gnu::always_inline]] static T round(const T& a) {
    return each([](auto x) { return V::round(x); }, a);
  }
};

}  // namespace yolo4::kernels
