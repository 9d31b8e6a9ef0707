// Activation math written once over a vector type V (VecAvx512, VecAvx2, VecScalar, or a
// VecGroup of one of them), inlined where it is used: the epilogue and the activation op.
#pragma once

namespace yolo4::kernels {

// e^x is a normal float for x in [kExpMin, kExpMax]: vexp clamps to it, vexp_approx's callers
// do.
inline constexpr float kExpMin = -87.3365478515625f;
inline constexpr float kExpMax = 88.3762626647949f;
// Past x = 20 mish's ratio t / (t + 2) is 1 in float, so clamping e^x's argument there avoids
// overflow without changing the result.
inline constexpr float kMishSaturation = 20.0f;

// Adding kRoundMagic (1.5 x 2^23) to a float of magnitude below 2^22 rounds it to an integer,
// which the sum's low mantissa bits then hold (V::exp2_eighths reads them there).
inline constexpr float kRoundMagic = 12582912.0f;
// 2^(j / 8) for j = 0..7, twice over (AVX-512's lookup takes 16 entries), rounded to float.
alignas(64) inline constexpr float kExp2Eighths[16] = {
    1.0f,         1.090507746f, 1.189207077f, 1.296839595f, 1.414213538f, 1.542210817f,
    1.681792855f, 1.834008098f, 1.0f,         1.090507746f, 1.189207077f, 1.296839595f,
    1.414213538f, 1.542210817f, 1.681792855f, 1.834008098f};

// e^x to 1.8 ulp (1.1e-7 relative, measured over [kExpMin, 20] every 1e-5 with AVX2) for x in
// [kExpMin, kExpMax] (the caller clamps: vexp does, and vmish's own clamps keep x there):
// e^x = 2^(k / 8) e^r with k = round(x 8 / ln 2), by kRoundMagic, and r = x - k ln 2 / 8 (ln 2 / 8
// split in two for an exact product), |r| <= ln 2 / 16; 2^(k / 8) from an 8-entry table and k's
// bits (V::exp2_eighths), e^r - 1 = r + r^2 (c2 + c3 r), the minimax cubic (2.5e-8 relative), and
// the result s + s (e^r - 1) rounded once. Against range reduction by ln 2 and Cephes' degree-6
// polynomial (1.4 ulp) it is 11 operations instead of 17 and half the dependency chain: exact
// mish, which is bound by that chain, takes 0.67x the time with AVX2's kernels, 0.76x with
// AVX-512's (`ukernel_bench --benchmark_filter=activation`, docs/perf.md).
template <class V>
[[gnu::always_inline]] inline typename V::T vexp_in_range(typename V::T x) {
  using T = typename V::T;
  const T magic = V::set1(kRoundMagic);
  const T y = V::fma(x, V::set1(11.54156017f), magic);  // 8 / ln 2
  const T k = V::sub(y, magic);
  T r = V::fma(k, V::set1(-8.666992188e-2f), x);  // ln 2 / 8, its first 9 bits
  r = V::fma(k, V::set1(2.652430521e-5f), r);     // and the rest
  const T cubic = V::fma(r, V::set1(1.666429788e-1f), V::set1(5.000647902e-1f));
  const T expm1 = V::fma(V::mul(r, r), cubic, r);
  const T scale = V::exp2_eighths(y, kExp2Eighths);
  return V::fma(scale, expm1, scale);
}

// e^x to 1.8 ulp, x clamped to [kExpMin, kExpMax].
template <class V>
[[gnu::always_inline]] inline typename V::T vexp(typename V::T x) {
  return vexp_in_range<V>(V::max(V::min(x, V::set1(kExpMax)), V::set1(kExpMin)));
}

// mish(x) = x * tanh(softplus(x)) = x * t / (t + 2) with t = e^x (e^x + 2). Below kExpMin,
// where vexp clamps, x is clamped too: the result stays kExpMin's (|mish| < 1.1e-36) instead of
// growing with |x| (x = -FLT_MAX gave -4). max returns its second operand for a NaN.
template <class V>
[[gnu::always_inline]] inline typename V::T vmish(typename V::T x) {
  const typename V::T xl = V::max(V::set1(kExpMin), x);
  const typename V::T e = vexp_in_range<V>(V::min(xl, V::set1(kMishSaturation)));
  const typename V::T t = V::mul(e, V::add(e, V::set1(2.0f)));
  return V::mul(xl, V::div(t, V::add(t, V::set1(2.0f))));
}

// e^x to 7.9e-5 relative error, for x in [kExpMin, kExpMax] (the caller clamps): 2^n p(f) with
// n = round(x log2 e), f = x log2 e - n in [-1/2, 1/2] and p the degree-3 minimax polynomial for
// 2^f there (7.5e-5; the rest is the rounding of x log2 e). vexp instead clamps, splits ln 2 in
// two and evaluates 6 terms.
template <class V>
[[gnu::always_inline]] inline typename V::T vexp_approx(typename V::T x) {
  using T = typename V::T;
  const T y = V::mul(x, V::set1(1.44269504088896341f));
  const T n = V::round(y);
  const T f = V::sub(y, n);
  T p = V::set1(5.51716685e-2f);
  p = V::fma(p, f, V::set1(2.42611125e-1f));
  p = V::fma(p, f, V::set1(6.93260968e-1f));
  p = V::fma(p, f, V::set1(9.99928057e-1f));
  return V::ldexp(p, n);
}

// mish for math_approx_mode: vmish's identity, with e^x from vexp_approx and t / (t + 2) from
// the reciprocal estimate and one correction step of the quotient (whose error is about the
// square of the estimate's), so no division. (The exact vmish keeps its division: on Zen 5 this
// division-free quotient measured 3-4% slower in mish-heavy convs.) The ratio's relative error is
// at most e^x's (less as x grows), so against
// mish in double the error is at most, for every finite x,
//   2.0e-5 absolute (measured 1.98e-5, at x = -1.408), and
//   8.0e-5 relative to max(|mish(x)|, 1e-30) (measured 7.83e-5, at x = -64.229),
// measured on AVX-512, AVX2 and scalar over x in [-100, 100] every 1e-3 plus zeros, tiny and
// huge values and the clamp points (tests/cpp/ops/mish_approx_test.cpp; the bounds are
// kMishApproxMaxAbsError and kMishApproxMaxRelError). The floor only matters below x = -73.
// Past kMishSaturation the result is x exactly.
template <class V>
[[gnu::always_inline]] inline typename V::T vmish_approx(typename V::T x) {
  using T = typename V::T;
  // Below kExpMin, x itself is clamped too: the result stays kExpMin's (|mish| < 1.1e-36)
  // instead of growing with |x|. max returns its second operand for a NaN: NaN stays NaN.
  const T xl = V::max(V::set1(kExpMin), x);
  const T e = vexp_approx<V>(V::min(xl, V::set1(kMishSaturation)));
  const T t = V::mul(e, V::add(e, V::set1(2.0f)));
  const T d = V::add(t, V::set1(2.0f));
  const T r = V::rcp(d);
  const T q = V::mul(t, r);                           // t / d to the estimate's error
  return V::mul(xl, V::fma(r, V::fnma(q, d, t), q));  // + r (t - q d): the correction step
}

template <class V>
[[gnu::always_inline]] inline typename V::T vleaky(typename V::T x) {
  return V::max(x, V::mul(x, V::set1(0.1f)));
}

// max(0, x) in this order: maxps returns its second operand for a NaN, so NaN stays NaN.
template <class V>
[[gnu::always_inline]] inline typename V::T vrelu(typename V::T x) {
  return V::max(V::zero(), x);
}

// sigmoid(x) = a / (a + b) with a = e^(min(x, 0) / 2), b = e^(-(x + max(x, 0)) / 2): for
// x >= 0 that is 1 / (1 + e^-x), for x < 0 e^(x/2) / (e^(x/2) + e^(-x/2)). Neither exponential
// leaves float for |x| <= 174, unlike e^-x, which overflows below x = -88.7 while sigmoid is
// still a nonzero denormal (down to x = -103.9): only the last division rounds into the
// denormal range, once. Error: the two exponentials' (under 2 ulp each, weighted by 1 - s)
// plus two roundings: measured at most 3 ulp from float sigmoid and swish on every ISA
// over [-110, 110] (tests/cpp/ops/eltwise_test.cpp). No selects: min and max give both
// arguments.
template <class V>
struct SigmoidParts {
  typename V::T a, sum;  // sigmoid(x) = a / sum
};
template <class V>
[[gnu::always_inline]] inline SigmoidParts<V> sigmoid_parts(typename V::T x) {
  using T = typename V::T;
  const T a = vexp<V>(V::mul(V::set1(0.5f), V::min(x, V::zero())));
  const T b = vexp<V>(V::mul(V::set1(-0.5f), V::add(x, V::max(x, V::zero()))));
  return {a, V::add(a, b)};
}

template <class V>
[[gnu::always_inline]] inline typename V::T vlogistic(typename V::T x) {
  const SigmoidParts<V> s = sigmoid_parts<V>(x);
  return V::div(s.a, s.sum);
}

// swish(x) = x * sigmoid(x) = (x a) / (a + b): x a is a normal float where sigmoid would be
// denormal, and for x >= 0 a is 1, so past x = 17.4 (b below half an ulp of 1) the result is
// x exactly, without overflow. Below kSwishZero swish is -0 in float; clamping x there keeps
// x a from growing with |x| once the exponentials are clamped.
inline constexpr float kSwishZero = -200.0f;
template <class V>
[[gnu::always_inline]] inline typename V::T vswish(typename V::T x) {
  const SigmoidParts<V> s = sigmoid_parts<V>(x);
  return V::div(V::mul(V::max(V::set1(kSwishZero), x), s.a), s.sum);
}

}  // namespace yolo4::kernels
