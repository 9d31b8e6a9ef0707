// Activation math written once over a vector type V (VecAvx512, VecAvx2, VecScalar).
#pragma once

namespace yolo4::kernels {

// e^x with about 1 ulp error: range reduction by ln 2 and the Cephes expf polynomial.
template <class V>
typename V::T vexp(typename V::T x) {
  using T = typename V::T;
  x = V::max(V::min(x, V::set1(88.3762626647949f)), V::set1(-87.3365478515625f));
  const T n = V::round(V::mul(x, V::set1(1.44269504088896341f)));
  T r = V::fma(n, V::set1(-0.693359375f), x);  // ln 2 split in two for an exact product
  r = V::fma(n, V::set1(2.12194440e-4f), r);
  T p = V::set1(1.9875691500E-4f);
  p = V::fma(p, r, V::set1(1.3981999507E-3f));
  p = V::fma(p, r, V::set1(8.3334519073E-3f));
  p = V::fma(p, r, V::set1(4.1665795894E-2f));
  p = V::fma(p, r, V::set1(1.6666665459E-1f));
  p = V::fma(p, r, V::set1(5.0000001201E-1f));
  const T y = V::add(V::fma(V::mul(p, r), r, r), V::set1(1.0f));
  return V::ldexp(y, n);
}

// mish(x) = x * tanh(softplus(x)) = x * t / (t + 2) with t = e^x (e^x + 2); past x = 20 the
// ratio is 1 in float, so clamping there avoids overflow without changing the result.
template <class V>
typename V::T vmish(typename V::T x) {
  const typename V::T e = vexp<V>(V::min(x, V::set1(20.0f)));
  const typename V::T t = V::mul(e, V::add(e, V::set1(2.0f)));
  return V::mul(x, V::div(t, V::add(t, V::set1(2.0f))));
}

template <class V>
typename V::T vleaky(typename V::T x) {
  return V::max(x, V::mul(x, V::set1(0.1f)));
}

}  // namespace yolo4::kernels
