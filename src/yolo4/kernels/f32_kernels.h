// Kernels as templates over a vector type V; each ISA file instantiates them with its own
// compiler flags. Included only by the per-ISA .cpp files: everything here has internal linkage.
#pragma once

#include <cstdint>

#include "yolo4/kernels/kernels.h"
#include "yolo4/kernels/vec_math.h"

namespace yolo4::kernels {
namespace {

template <class V>
typename V::T apply_activation(typename V::T x, Activation activation) {
  switch (activation) {
    case Activation::kMish: return vmish<V>(x);
    case Activation::kMishApprox: return vmish_approx<V>(x);
    case Activation::kLeaky: return vleaky<V>(x);
    case Activation::kNone: break;
  }
  return x;
}

// Output element types: float, or bfloat16 bits (uint16_t).
template <class V>
typename V::T load_as_float(const float* p, int lanes) {
  return lanes >= V::kLanes ? V::load(p) : V::load_partial(p, lanes);
}
template <class V>
typename V::T load_as_float(const uint16_t* p, int lanes) {
  return V::load_bf16(p, lanes < V::kLanes ? lanes : V::kLanes);
}
template <class V>
void store_from_float(float* p, typename V::T x, int lanes) {
  if (lanes >= V::kLanes) {
    V::store(p, x);
  } else {
    V::store_partial(p, x, lanes);
  }
}
template <class V>
void store_from_float(uint16_t* p, typename V::T x, int lanes) {
  V::store_bf16(p, x, lanes < V::kLanes ? lanes : V::kLanes);
}

// The fused epilogue shared by every conv kernel: bias (or the partial sum of an earlier
// reduction chunk), activation, residual, store in the output's dtype.
template <class V, int MR, int NRV, class OutT>
void store_tile(typename V::T (&acc)[MR][NRV], const ConvTile& t) {
  using T = typename V::T;
  constexpr int L = V::kLanes;
  for (int m = 0; m < t.rows; ++m) {
    OutT* out = static_cast<OutT*>(t.out) + m * t.out_stride;
    const float* partial = t.accumulate ? t.partial + m * t.partial_stride : nullptr;
    const OutT* res = t.residual ? static_cast<const OutT*>(t.residual) + m * t.residual_stride : nullptr;
#pragma GCC unroll 4
    for (int v = 0; v < NRV; ++v) {
      const int lanes = t.columns - v * L;
      if (lanes <= 0) break;
      T x = acc[m][v];
      x = V::add(x, partial ? load_as_float<V>(partial + v * L, lanes) : V::load(t.bias + v * L));
      if (t.finalize) {
        x = apply_activation<V>(x, t.activation);
        if (res) x = V::add(x, load_as_float<V>(res + v * L, lanes));
      }
      store_from_float<V>(out + v * L, x, lanes);
    }
  }
}

// Outer-product micro-kernel: MR x (NRV vectors) accumulators stay in registers for the whole
// reduction; each step loads NRV weight vectors and broadcasts MR activations.
template <class V, int MR, int NRV, class OutT>
void f32_conv_ukernel(const ConvTile& t) {
  using T = typename V::T;
  constexpr int L = V::kLanes;
  constexpr int NR = NRV * L;
  T acc[MR][NRV];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NRV; ++v) acc[m][v] = V::zero();

  const float* a = static_cast<const float*>(t.a);
  const float* w = static_cast<const float*>(t.w);
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
  store_tile<V, MR, NRV, OutT>(acc, t);
}

// The f32 conv kernel as HiFi4, or as an exact emulation of LoFi (bf16 operands, VDPBF16PS
// accumulation order) for CPUs without AVX512_BF16.
template <class V, int MR, int NRV>
constexpr ConvKernel f32_conv_kernel(const char* name, bool bf16_emulation) {
  ConvKernel k;
  k.run[0] = &f32_conv_ukernel<V, MR, NRV, float>;
  k.run[1] = &f32_conv_ukernel<V, MR, NRV, uint16_t>;
  k.mr = MR;
  k.nr = NRV * V::kLanes;
  k.operands = OperandFormat::kF32;
  k.bf16_emulation = bf16_emulation;
  k.name = name;
  return k;
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

// The table every ISA file exports, given its vector type and its conv kernels.
template <class V>
constexpr KernelTable make_kernel_table(Isa isa, ConvKernel hifi4, ConvKernel lofi) {
  return KernelTable{isa,
                     hifi4,
                     lofi,
                     &f32_activation<V>,
                     &f32_add<V>,
                     &f32_fma_loop<V>,
                     2 * kFmaChains * V::kLanes};
}

}  // namespace
}  // namespace yolo4::kernels
