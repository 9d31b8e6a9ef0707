// The f32 kernels as templates over a vector type V; each ISA file instantiates them with its
// own compiler flags. Included only by the per-ISA .cpp files, inside an anonymous namespace.
#pragma once

#include "yolo4/kernels/kernels.h"
#include "yolo4/kernels/vec_math.h"

namespace yolo4::kernels {
namespace {

template <class V>
typename V::T apply_activation(typename V::T x, Activation activation) {
  switch (activation) {
    case Activation::kMish: return vmish<V>(x);
    case Activation::kLeaky: return vleaky<V>(x);
    case Activation::kNone: break;
  }
  return x;
}

// Outer-product micro-kernel: MR x (NRV vectors) accumulators stay in registers for the whole
// reduction; each step loads NRV weight vectors and broadcasts MR activations.
template <class V, int MR, int NRV>
void f32_conv_ukernel(const ConvTile& t) {
  using T = typename V::T;
  constexpr int L = V::kLanes;
  constexpr int NR = NRV * L;
  T acc[MR][NRV];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NRV; ++v) acc[m][v] = V::zero();

  const float* a = t.a;
  const float* w = t.w;
  for (int kb = 0; kb < t.kblocks; ++kb) {
#pragma GCC unroll 16
    for (int k = 0; k < kKBlock; ++k) {
      T wv[NRV];
#pragma GCC unroll 4
      for (int v = 0; v < NRV; ++v) wv[v] = V::load(w + v * L);
#pragma GCC unroll 16
      for (int m = 0; m < MR; ++m) {
        const T av = V::broadcast(a + m * kKBlock + k);
#pragma GCC unroll 4
        for (int v = 0; v < NRV; ++v) acc[m][v] = V::fma(av, wv[v], acc[m][v]);
      }
      w += NR;
    }
    a += MR * kKBlock;
  }

  for (int m = 0; m < t.rows; ++m) {
    float* out = t.out + m * t.out_stride;
    const float* res = t.residual ? t.residual + m * t.residual_stride : nullptr;
#pragma GCC unroll 4
    for (int v = 0; v < NRV; ++v) {
      const int lanes = t.columns - v * L;
      if (lanes <= 0) break;
      T x = acc[m][v];
      if (t.accumulate) {
        x = V::add(x, lanes >= L ? V::load(out + v * L) : V::load_partial(out + v * L, lanes));
      } else {
        x = V::add(x, V::load(t.bias + v * L));
      }
      if (t.finalize) {
        x = apply_activation<V>(x, t.activation);
        if (res) {
          x = V::add(x, lanes >= L ? V::load(res + v * L) : V::load_partial(res + v * L, lanes));
        }
      }
      if (lanes >= L) {
        V::store(out + v * L, x);
      } else {
        V::store_partial(out + v * L, x, lanes);
      }
    }
  }
}

template <class V>
void f32_activation(const float* in, float* out, int64_t n, Activation activation) {
  constexpr int L = V::kLanes;
  int64_t i = 0;
  for (; i + L <= n; i += L) V::store(out + i, apply_activation<V>(V::load(in + i), activation));
  if (i < n) {
    const int rest = int(n - i);
    V::store_partial(out + i, apply_activation<V>(V::load_partial(in + i, rest), activation), rest);
  }
}

template <class V>
void f32_add(const float* a, const float* b, float* out, int64_t n) {
  constexpr int L = V::kLanes;
  int64_t i = 0;
  for (; i + L <= n; i += L) V::store(out + i, V::add(V::load(a + i), V::load(b + i)));
  if (i < n) {
    const int rest = int(n - i);
    V::store_partial(out + i, V::add(V::load_partial(a + i, rest), V::load_partial(b + i, rest)), rest);
  }
}

// More independent chains than FMA latency x FMA units, so only throughput limits the loop.
inline constexpr int kFmaChains = 12;

template <class V>
float f32_fma_loop(int64_t iterations) {
  using T = typename V::T;
  T acc[kFmaChains];
  for (int c = 0; c < kFmaChains; ++c) acc[c] = V::set1(float(c));
  const T scale = V::set1(0.9999999f), shift = V::set1(1e-7f);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kFmaChains; ++c) acc[c] = V::fma(acc[c], scale, shift);
  }
  T sum = V::zero();
  for (int c = 0; c < kFmaChains; ++c) sum = V::add(sum, acc[c]);
  float lanes[V::kLanes];
  V::store(lanes, sum);
  return lanes[0];
}

}  // namespace
}  // namespace yolo4::kernels
