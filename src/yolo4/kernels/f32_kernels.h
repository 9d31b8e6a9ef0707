// Kernels as templates over a vector type V; each ISA file instantiates them with its own
// compiler flags. Included only by the per-ISA .cpp files: everything here has internal linkage.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "yolo4/core/aligned_vector.h"
#include "yolo4/kernels/kernels.h"
#include "yolo4/kernels/vec_group.h"
#include "yolo4/kernels/vec_math.h"

namespace yolo4::kernels {
namespace {

// The activation's function on one vector of V (a vector type, or a VecGroup of them).
template <class V, Activation A>
[[gnu::always_inline]] inline typename V::T activate(typename V::T x) {
  if constexpr (A == Activation::kMish) return vmish<V>(x);
  if constexpr (A == Activation::kMishApprox) return vmish_approx<V>(x);
  if constexpr (A == Activation::kLeaky) return vleaky<V>(x);
  if constexpr (A == Activation::kLogistic) return vlogistic<V>(x);
  if constexpr (A == Activation::kRelu) return vrelu<V>(x);
  if constexpr (A == Activation::kSwish) return vswish<V>(x);
  if constexpr (A == Activation::kNone) return x;
}

// body(std::integral_constant<Activation, activation>{}): the activation chosen once, outside the
// caller's loop.
template <class Body>
void with_activation(Activation activation, Body&& body) {
  using A = Activation;
  switch (activation) {
    case A::kMish:
      return body(std::integral_constant<A, A::kMish>{});
    case A::kMishApprox:
      return body(std::integral_constant<A, A::kMishApprox>{});
    case A::kLeaky:
      return body(std::integral_constant<A, A::kLeaky>{});
    case A::kLogistic:
      return body(std::integral_constant<A, A::kLogistic>{});
    case A::kRelu:
      return body(std::integral_constant<A, A::kRelu>{});
    case A::kSwish:
      return body(std::integral_constant<A, A::kSwish>{});
    case A::kNone:
      break;
  }
  body(std::integral_constant<A, A::kNone>{});
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
// A float operand holding a bf16 value: LoFi's operands for a kF32 kernel.
struct Bf16AsFloat {
  float value;
};
template <class V>
void store_from_float(Bf16AsFloat* p, typename V::T x, int lanes) {
  store_from_float<V>(reinterpret_cast<float*>(p), V::round_bf16(x), lanes);
}

// Vectors the epilogue puts through the activation at once (VecGroup).
inline constexpr int kEpilogueGroup = 4;

// Sum i of a tile's [rows][NRV] vectors, plus its column's bias if kAddBias.
template <class V, int NRV, bool kAddBias>
[[gnu::always_inline]] inline typename V::T with_bias(const typename V::T* sums, int i,
                                                      const ConvTile& t) {
  if constexpr (kAddBias) return V::add(sums[i], V::load(t.bias + i % NRV * V::kLanes));
  return sums[i];
}

// The last chunk's half of the fused epilogue, on groups of whole vectors without padding lanes:
// kEpilogueGroup vectors at a time through the activation, plus the residual if kResidual, with
// no per-vector checks, so that the compiler keeps the group's independent chains together.
// Returns the vectors done. (With the checks of finish_tile_with's general loop, GCC sank each
// vector's activation into its own conditional store and the chains ran one after another: exact
// mish took 37 cycles a vector with AVX2's kernels.) kAddBias: as finish_tile_with.
template <class V, int NRV, class OutT, Activation A, bool kAddBias, bool kResidual>
[[gnu::always_inline]] inline int finish_whole_groups(const typename V::T* sums,
                                                      const ConvTile& t) {
  using Group = VecGroup<V, kEpilogueGroup>;
  constexpr int L = V::kLanes;
  const int whole = t.rows * NRV / kEpilogueGroup * kEpilogueGroup;
  for (int i0 = 0; i0 < whole; i0 += kEpilogueGroup) {
    typename Group::T x;
#pragma GCC unroll 8
    for (int j = 0; j < kEpilogueGroup; ++j) x.v[j] = with_bias<V, NRV, kAddBias>(sums, i0 + j, t);
    x = activate<Group, A>(x);
#pragma GCC unroll 8
    for (int j = 0; j < kEpilogueGroup; ++j) {
      const int m = (i0 + j) / NRV, v = (i0 + j) % NRV;
      typename V::T y = x.v[j];
      if constexpr (kResidual) {
        const OutT* res = static_cast<const OutT*>(t.residual) + m * t.residual_stride + v * L;
        y = V::add(y, load_as_float<V>(res, L));
      }
      store_from_float<V>(static_cast<OutT*>(t.out) + m * t.out_stride + v * L, y, L);
    }
  }
  return whole;
}

// The last chunk's half of the fused epilogue: a tile's bias-added sums `sums` ([rows][NRV]
// vectors; kAddBias: sums the bias is added to here) through the activation, plus the residual,
// into the output: kEpilogueGroup vectors at a time through the activation, whose independent
// chains then overlap (network 0.97x with AVX-512's kernels, docs/perf.md). Instantiated once per
// activation, not inlined into every micro-kernel: 5420674 did that and took the scalar kernels'
// ASan build from 17 s to 23 min.
template <class V, int NRV, class OutT, Activation A, bool kAddBias = false>
[[gnu::noinline]] void finish_tile_with(const typename V::T* sums, const ConvTile& t) {
  using Group = VecGroup<V, kEpilogueGroup>;
  constexpr int L = V::kLanes;
  const int n = t.rows * NRV;
  int i0 = 0;
  if (t.columns == NRV * L && t.channels >= t.columns) {
    i0 = t.residual ? finish_whole_groups<V, NRV, OutT, A, kAddBias, true>(sums, t)
                    : finish_whole_groups<V, NRV, OutT, A, kAddBias, false>(sums, t);
  }
  for (; i0 < n; i0 += kEpilogueGroup) {
    typename Group::T x;
#pragma GCC unroll 8
    for (int j = 0; j < kEpilogueGroup; ++j)
      x.v[j] = i0 + j < n ? with_bias<V, NRV, kAddBias>(sums, i0 + j, t) : V::zero();
    x = activate<Group, A>(x);
#pragma GCC unroll 8
    for (int j = 0; j < kEpilogueGroup; ++j) {
      if (i0 + j >= n) break;
      const int m = (i0 + j) / NRV, v = (i0 + j) % NRV;
      const int lanes = t.columns - v * L;
      if (lanes <= 0) continue;
      typename V::T y = x.v[j];
      // Lanes past the output's channels are a TILE output's padding: zero even where the
      // activation's f(0) is not (logistic), and never read from the residual.
      const int channel_lanes = t.channels - v * L;
      if (t.residual && channel_lanes > 0) {
        const OutT* res = static_cast<const OutT*>(t.residual) + m * t.residual_stride + v * L;
        y = V::add(y, load_as_float<V>(res, std::min(lanes, channel_lanes)));
      }
      if (channel_lanes < lanes)
        y = channel_lanes > 0 ? V::keep_first(y, channel_lanes) : V::zero();
      store_from_float<V>(static_cast<OutT*>(t.out) + m * t.out_stride + v * L, y, lanes);
    }
  }
}

// The fused epilogue shared by every conv kernel: bias (or the partial sum of an earlier
// reduction chunk), then for the last chunk activation and residual (finish_tile_with), stored
// in the output's dtype.
template <class V, int MR, int NRV, class OutT>
void store_tile(typename V::T (&acc)[MR][NRV], const ConvTile& t) {
  constexpr int L = V::kLanes;
  for (int m = 0; m < t.rows; ++m) {
    OutT* out = static_cast<OutT*>(t.out) + m * t.out_stride;
    const float* partial = t.accumulate ? t.partial + m * t.partial_stride : nullptr;
#pragma GCC unroll 4
    for (int v = 0; v < NRV; ++v) {
      const int lanes = t.columns - v * L;
      if (lanes <= 0) {
        acc[m][v] = V::zero();  // not stored; defined for the activation's group
        continue;
      }
      if (partial) {
        acc[m][v] = V::add(acc[m][v], load_as_float<V>(partial + v * L, lanes));
      } else if (t.bias) {
        acc[m][v] = V::add(acc[m][v], V::load(t.bias + v * L));
      }
      if (!t.finalize) store_from_float<V>(out + v * L, acc[m][v], lanes);
    }
  }
  if (t.finalize) {
    with_activation(t.activation, [&](auto a) {
      finish_tile_with<V, NRV, OutT, decltype(a)::value>(&acc[0][0], t);
    });
  }
}

// How every conv micro-kernel ends: a whole tile of bare sums (no bias: Winograd's GEMMs, each
// 6 or 12 rows of one transformed position) stored straight from the registers; anything else
// through store_tile, whose per-row checks and stack round trip took 11% of an F(6x6) conv on
// 32 channels with AVX2's kernels (K = 32: a tile's stores for every 32 steps of FMAs).
template <class V, int MR, int NRV, class OutT>
[[gnu::always_inline]] inline void store_sums_or_tile(typename V::T (&acc)[MR][NRV],
                                                      const ConvTile& t) {
  constexpr int L = V::kLanes;
  if constexpr (std::is_same_v<OutT, float>) {
    if (!t.bias && !t.accumulate && !t.finalize && t.rows == MR && t.columns == NRV * L) {
      float* out = static_cast<float*>(t.out);
#pragma GCC unroll 16
      for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
        for (int v = 0; v < NRV; ++v) V::store(out + m * t.out_stride + v * L, acc[m][v]);
      return;
    }
  }
  // store_tile reads a copy: were the accumulators' own address to escape, the compiler would
  // store them to the stack at every step of the reduction loop.
  typename V::T sums[MR][NRV];
#pragma GCC unroll 16
  for (int m = 0; m < MR; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < NRV; ++v) sums[m][v] = acc[m][v];
  store_tile<V, MR, NRV, OutT>(sums, t);
}

// The FMAs a core has in flight: 2 a cycle of 4 cycles' latency (Zen 2-5).
inline constexpr int kFmasInFlight = 8;

// Whether an outer-product kernel of `accumulators` vectors fits V's registers with its row of
// NRV weight vectors and a broadcast.
template <class V, int NRV>
constexpr bool fits_registers(int accumulators) {
  return accumulators + NRV + 1 <= V::kRegisters;
}

// How far ahead in the weight stream the conv kernels prefetch: measured on Zen 5 (network,
// 2 threads), AVX2's fp32 kernels 0.96x with 8 KB against 2 KB (16 KB no better), AVX-512's
// fp32 level from 4 KB to 8 KB, and the bf16 kernel, which prefetched nothing before,
// 0.93x on the 10x10 layers with 2 KB and another 0.93x with 4-8 KB.
inline constexpr int kPrefetchBytes = 8192;

// The distance from a tile's weights to those it prefetches (ConvTile::w_next).
inline uintptr_t prefetch_distance(const ConvTile& t) {
  return t.w_next ? reinterpret_cast<uintptr_t>(t.w_next) - reinterpret_cast<uintptr_t>(t.w)
                  : uintptr_t(kPrefetchBytes);
}

// The address `distance` bytes past `w`, where an outer step's weight prefetches start, as a
// value the compiler cannot split back into w + distance: it otherwise kept each step's sum of
// the two on the stack and loaded it back before every prefetch (6-16 loads per outer step in
// AVX2's fp32 kernels, 26 in AVX-512's 12-row one).
[[gnu::always_inline]] inline uintptr_t prefetch_origin(const void* w, uintptr_t distance) {
  uintptr_t origin = reinterpret_cast<uintptr_t>(w) + distance;
  asm("" : "+r"(origin));
  return origin;
}

// Prefetches the row of `row_bytes` `offset` bytes past `origin` (prefetch_origin; past the end
// of the weights is harmless): weights stream once from memory where few rows meet them
// (Winograd's GEMMs on 10x10 and 20x20 maps). Into L2 only: on a Xeon the network took 0.91x
// the time in fp32, 0.97x in bf16 on AMX and 0.96x with AVX2's kernels (on Zen 5 prefetcht1 had
// measured level).
template <int row_bytes>
[[gnu::always_inline]] inline void prefetch_weights(uintptr_t origin, uintptr_t offset) {
#pragma GCC unroll 4
  for (int line = 0; line < row_bytes / int(kCacheLineBytes); ++line) {
    prefetch_ahead<PrefetchTo::kL2>(reinterpret_cast<const void*>(origin),
                                    offset + line * kCacheLineBytes);
  }
}

// The accumulator sets of a ROWS x NRV tile (f32_conv_ukernel): four where ROWS * NRV is under
// half the FMAs in flight, two where it is at most all of them, if the sets fit the registers.
template <class V, int NRV>
constexpr int accumulator_sets(int rows) {
  const int accumulators = rows * NRV;
  if (2 * accumulators < kFmasInFlight && fits_registers<V, NRV>(4 * accumulators)) return 4;
  if (accumulators <= kFmasInFlight && fits_registers<V, NRV>(2 * accumulators)) return 2;
  return 1;
}

// Where row m of a tile of MR packed rows starts, in operand elements from its first: the rows
// past MR (ConvKernel::run_tall) are the next packed tile's, `tile_elements` further.
template <int MR>
[[gnu::always_inline]] inline int64_t packed_row(int m, int64_t tile_elements) {
  return m < MR ? m * kKBlock : tile_elements + (m - MR) * kKBlock;
}

// Where a micro-kernel reads row m's activation k: its operand. Rows policies: kStepValues k per
// outer step, row m's operands row(m, spacing(t)) elements from the step's first.
// The packed tile conv2d copies (im2col): blocks of kKBlock values of each of MR rows, the rows
// past MR the next tile's.
template <int MR>
struct PackedRows {
  static constexpr int kStepValues = kKBlock;  // k per outer step
  [[gnu::always_inline]] static int64_t spacing(const ConvTile& t) {
    return int64_t(t.kblocks) * MR * kKBlock;  // the next packed tile's distance
  }
  [[gnu::always_inline]] static int64_t row(int m, int64_t tile_elements) {
    return packed_row<MR>(m, tile_elements);
  }
  [[gnu::always_inline]] static int64_t outer_step(const ConvTile&) { return MR * kKBlock; }
  // The row a kernel's row m reads: its own (the packing fills rows past the valid ones).
  [[gnu::always_inline]] static int source_row(int m, const ConvTile&) { return m; }
  template <int ROWS, class E>
  static void prefetch_next(const E* const (&)[ROWS], int64_t) {}
  static constexpr int kOpaqueRowsMax = 0;  // row m is one pointer plus a displacement
  static constexpr bool kOverlappingRows = false;
};
// A pointwise conv's input read in place (ConvKernel::in_place): row m (output pixel m)
// t.a_row_stride elements after row m - 1, its channels side by side, no packing (15% of a 1x1
// conv's time on 64 bf16 channels at 160x160). Each outer step also fetches the same block of the
// next tile's rows, as the packing had fetched its input ahead: YOLOv4's 1x1 convs then took
// 0.92x their packed time in fp32, 0.94x in bf16 (AMD Zen 4; docs/perf.md).
struct PixelRows {
  static constexpr int kStepValues = kKBlock;
  [[gnu::always_inline]] static int64_t spacing(const ConvTile& t) { return t.a_row_stride; }
  [[gnu::always_inline]] static int64_t row(int m, int64_t row_stride) { return m * row_stride; }
  [[gnu::always_inline]] static int64_t outer_step(const ConvTile&) { return kKBlock; }
  // Rows past the tile's valid ones (a shorter kernel's extra row, on a conv's last tile) read
  // the last valid row: past it may lie the input's end. Their sums are not stored.
  [[gnu::always_inline]] static int source_row(int m, const ConvTile& t) {
    return m < t.rows ? m : t.rows - 1;
  }
  template <int ROWS, class E>
  [[gnu::always_inline]] static void prefetch_next(const E* const (&row_at)[ROWS],
                                                   int64_t row_stride) {
#pragma GCC unroll 16
    for (int m = 0; m < ROWS; ++m) prefetch_ahead(row_at[m], ROWS * row_stride * sizeof(E));
  }
  // Each row's pointer opaque to the compiler where they fit the general registers with the
  // kernel's others: else GCC rebuilt row m's step-k operand as a + (m x stride + k) and kept
  // those offsets on the stack (AVX2's 6-row fp32 kernel loaded 76 of them per outer step).
  static constexpr int kOpaqueRowsMax = 6;
  static constexpr bool kOverlappingRows = false;
};
// A narrow conv's input read in place (ConvKernel::window): each outer step one kernel row of
// the window, whose kRowValues values (taps x channels) lie side by side, t.window_row_stride
// elements from the last; row m (output pixel m) kPixelStep elements (stride x channels) after
// row m - 1. No packing: the RGB stem's im2col copy was 40% of its time.
template <int kPixelStep, int kRowValues>
struct WindowRows {
  static constexpr int kStepValues = kRowValues;
  [[gnu::always_inline]] static int64_t spacing(const ConvTile&) { return 0; }
  [[gnu::always_inline]] static int64_t row(int m, int64_t) { return m * kPixelStep; }
  [[gnu::always_inline]] static int64_t outer_step(const ConvTile& t) {
    return t.window_row_stride;
  }
  // The window copy covers every tile's windows.
  [[gnu::always_inline]] static int source_row(int m, const ConvTile&) { return m; }
  template <int ROWS, class E>
  static void prefetch_next(const E* const (&)[ROWS], int64_t) {}
  static constexpr int kOpaqueRowsMax = 0;  // row m is one pointer plus a displacement
  // Windows overlap: row m's step k reads row m + 1's step k - kPixelStep value.
  static constexpr bool kOverlappingRows = true;
};

// The operand row m reads at step k: where rows overlap (Rows::kOverlappingRows), from a base
// made opaque once a step, so that GCC does not keep a value one row's step loaded for another
// row's later step (AVX-512's 12-row window kernel spilled accumulators: 60 stack loads a step).
template <class Rows, int ROWS, class E>
[[gnu::always_inline]] inline const E* step_operand(const E* const (&row_at)[ROWS],
                                                    const E* step_base, int m, int k) {
  if constexpr (Rows::kOverlappingRows) return step_base + Rows::row(m, 0);
  return row_at[m] + k;
}
template <class Rows, class E>
[[gnu::always_inline]] inline const E* step_base(const E* row0, int k) {
  const E* base = row0 + k;
  if constexpr (Rows::kOverlappingRows) asm volatile("" : "+r"(base));
  return base;
}

// An outer step's row pointers, `a` its first operand: one a row, so that the steps reach the
// operands by displacement. Only the last row can lie past the tile's valid ones
// (ConvKernel::for_rows takes the shortest kernel that covers them, in steps of at most
// kRowStep = 2 rows).
template <class Rows, int ROWS, class E>
[[gnu::always_inline]] inline void point_rows(const E* a, int64_t spacing, const ConvTile& t,
                                              const E* (&row_at)[ROWS]) {
#pragma GCC unroll 16
  for (int m = 0; m < ROWS - 1; ++m) row_at[m] = a + Rows::row(m, spacing);
  row_at[ROWS - 1] = a + Rows::row(Rows::source_row(ROWS - 1, t), spacing);
  Rows::prefetch_next(row_at, spacing);
  if constexpr (ROWS <= Rows::kOpaqueRowsMax) {
#pragma GCC unroll 16
    for (int m = 0; m < ROWS; ++m) asm("" : "+r"(row_at[m]));
  }
}

// Activation k of a row, broadcast: A = float operands as they are, or (A = uint16_t) bf16 values
// widened in registers, k's pair read whole (the pair k, k + 1 for even k, k - 1, k for odd k:
// within the row's whole blocks of channels) and its element moved to a float's high half. Read
// so in place, YOLOv4's 1x1 convs in `auto` with AVX2's kernels took 0.92x their packed time at
// 160x160, 0.94x at 80x80, 0.98-0.99x at 40x40 and 20x20, level at 10x10 (AMD Zen 4; docs/perf.md).
template <class V, class A>
[[gnu::always_inline]] inline typename V::T broadcast_activation(const A* p, int k) {
  if constexpr (std::is_same_v<A, float>) {
    return V::broadcast(p);
  } else {
    const int odd = k & 1;
    uint32_t pair;
    std::memcpy(&pair, p - odd, sizeof pair);
    return V::broadcast_pair_element(pair, odd);
  }
}

// Outer-product micro-kernel: ROWS x (NRV vectors) accumulators stay in registers for the
// whole reduction; each step loads NRV weight vectors and broadcasts ROWS activations of the
// tile's MR rows of Rows (ROWS < MR: the shorter kernel for a partial tile; MR + 1: the tall one,
// whose last row is the next tile's first). kPairWeights: the weights are bf16 pairs
// [k/2][NR][2], each pair row loaded for both its steps and widened in registers (half the bytes
// of fp32 weights, and no widened copy); each accumulator still sums k in order, so the results
// are those of fp32 weights holding the same bf16 values. A: the activations' type, float, or
// uint16_t for a bf16 input read in place (PixelRows), each broadcast widened in registers.
template <class V, int MR, int NRV, class OutT, int ROWS = MR, bool kPairWeights = false,
          class Rows = PackedRows<MR>, class A = float>
void f32_conv_ukernel(const ConvTile& t) {
  using T = typename V::T;
  constexpr int L = V::kLanes;
  constexpr int NR = NRV * L;
  constexpr int kSteps = kPairWeights ? 2 : 1;  // k steps per row of weights
  // A short tile (a conv's last rows: 49 Winograd tiles are 8 x 6 + 1 with AVX2's kernels) has too
  // few accumulators to keep the FMAs in flight, so where registers allow it sums alternate pairs
  // of k into two sets, or four for a single row, added at the end (ukernel_bench, docs/perf.md).
  // Pairs, as bf16 pair weights are read, so that both weight forms sum alike.
  constexpr int kSets = accumulator_sets<V, NRV>(ROWS);
  T acc[kSets][ROWS][NRV];
#pragma GCC unroll 4
  for (int s = 0; s < kSets; ++s)
#pragma GCC unroll 16
    for (int m = 0; m < ROWS; ++m)
#pragma GCC unroll 4
      for (int v = 0; v < NRV; ++v) acc[s][m][v] = V::zero();

  const A* a = static_cast<const A*>(t.a);
  const int64_t spacing = Rows::spacing(t);
  const uintptr_t ahead = prefetch_distance(t);
  using W = std::conditional_t<kPairWeights, uint32_t, float>;
  const W* w = static_cast<const W*>(t.w);
  static_assert(Rows::kStepValues % kSteps == 0);
  for (int kb = 0; kb < t.kblocks; ++kb) {
    const A* row_at[ROWS];
    point_rows<Rows>(a, spacing, t, row_at);
    const uintptr_t w_ahead = prefetch_origin(w, ahead);
#pragma GCC unroll 16
    for (int k = 0; k < Rows::kStepValues; k += kSteps) {
      prefetch_weights<NR * sizeof(W)>(w_ahead, k / kSteps * NR * sizeof(W));
      T(&sum)[ROWS][NRV] = acc[(k / 2) % kSets];
      const A* base = step_base<Rows>(row_at[0], k);
#pragma GCC unroll 2
      for (int step = 0; step < kSteps; ++step) {
        // A bf16 input's pair is loaded again for its odd step: GCC kept each row's broadcast
        // pair for both steps, and AVX2's kernel then spilled its accumulators.
        if constexpr (!std::is_same_v<A, float>) {
          if (step > 0) asm volatile("" ::: "memory");
        }
        // One step's weights at a time: both steps' would not fit in AVX2's 16 registers.
        T wv[NRV];
#pragma GCC unroll 4
        for (int v = 0; v < NRV; ++v) {
          if constexpr (kPairWeights) {
            wv[v] = V::load_pair_element(w + v * L, step);
          } else {
            wv[v] = V::load(w + v * L);
          }
        }
#pragma GCC unroll 16
        for (int m = 0; m < ROWS; ++m) {
          const T av =
              broadcast_activation<V>(step_operand<Rows>(row_at, base, m, k) + step, k + step);
#pragma GCC unroll 4
          for (int v = 0; v < NRV; ++v) sum[m][v] = V::fma(av, wv[v], sum[m][v]);
        }
      }
      w += NR;
    }
    a += Rows::outer_step(t);
  }
#pragma GCC unroll 4
  for (int s = 1; s < kSets; ++s)
#pragma GCC unroll 16
    for (int m = 0; m < ROWS; ++m)
#pragma GCC unroll 4
      for (int v = 0; v < NRV; ++v) acc[0][m][v] = V::add(acc[0][m][v], acc[s][m][v]);
  store_sums_or_tile<V, ROWS, NRV, OutT>(acc[0], t);
}

// A conv kernel's shorter variants (ConvKernel::run_rows, every register_row_step(MR) rows) from
// its family of micro-kernels: Family::kernel<OutT, ROWS> computes ROWS rows of the family's
// MR-row tile.
template <class Family, int... Steps>
constexpr void set_shorter_kernels(TileKernels& k, std::integer_sequence<int, Steps...>) {
  constexpr int kStep = register_row_step(Family::kMr);
  static_assert(Family::kMr <= kMrMax && (Family::kMr - 1) / kStep <= kMrMax / kRowStep);
  ((k.run_rows[Steps][0] = Family::template kernel<float, kStep*(Steps + 1)>,
    k.run_rows[Steps][1] = Family::template kernel<uint16_t, kStep*(Steps + 1)>),
   ...);
  k.row_step = kStep;
}
template <class Family>
constexpr void set_shorter_kernels(TileKernels& k) {
  set_shorter_kernels<Family>(
      k, std::make_integer_sequence<int, (Family::kMr - 1) / register_row_step(Family::kMr)>{});
  k.run_row[0] = Family::template kernel<float, 1>;
  k.run_row[1] = Family::template kernel<uint16_t, 1>;
}

// A family's tall kernel (MR + 1 rows) where its accumulators, one row of weights and a broadcast
// fit the registers: with AVX-512's 12x32 tile 29 of 32; AVX2's 6x16 would need 17 of 16.
template <class Family>
constexpr void set_tall_kernels(TileKernels& k) {
  using V = typename Family::Vec;
  if constexpr (fits_registers<V, Family::kNrv>((Family::kMr + 1) * Family::kNrv)) {
    k.run_tall[0] = Family::template kernel<float, Family::kMr + 1>;
    k.run_tall[1] = Family::template kernel<uint16_t, Family::kMr + 1>;
  }
}

template <class V, int MR, int NRV, bool kPairWeights, class Rows = PackedRows<MR>, class A = float>
struct F32ConvFamily {
  using Vec = V;
  static constexpr int kMr = MR, kNrv = NRV;
  template <class OutT, int ROWS>
  static constexpr ConvTileFn kernel =
      &f32_conv_ukernel<V, MR, NRV, OutT, ROWS, kPairWeights, Rows, A>;
  template <class OutT, int kPixelStep>
  static constexpr ConvTileFn window = &f32_conv_ukernel<V, MR, NRV, OutT, MR, kPairWeights,
                                                         WindowRows<kPixelStep, kWindowRowValues>>;
};

// A family's full-tile kernels, and its shorter and tall ones where asked.
template <class Family>
constexpr void set_family_kernels(TileKernels& k, bool shorter) {
  k.run[0] = Family::template kernel<float, Family::kMr>;
  k.run[1] = Family::template kernel<uint16_t, Family::kMr>;
  if (shorter) {
    set_shorter_kernels<Family>(k);
    set_tall_kernels<Family>(k);
  }
}

// The epilogue alone, on float sums in memory (t.a: Winograd's output transform): straight to
// finish_tile_with, which adds the bias as it loads them (through store_tile, the copy and its
// per-vector checks took 6-9% of F(6x6) convs on 32 channels).
template <class V, int NRV, class OutT>
void f32_epilogue(const ConvTile& t) {
  const auto* sums = static_cast<const typename V::T*>(t.a);
  with_activation(t.activation, [&](auto a) {
    finish_tile_with<V, NRV, OutT, decltype(a)::value, true>(sums, t);
  });
}

// Winograd's 1-D transforms on whole vectors (Lavin & Gray, 2015), one per tile; the 2-D ones
// below apply them to the columns, then the rows of a tile.
template <class V, WinogradTile Tile>
struct WinogradTransform1d;

// F(2, 3): interpolation points 0, 1, -1 and infinity.
template <class V>
struct WinogradTransform1d<V, WinogradTile::kF2x2> {
  using T = typename V::T;
  static void input(const T* d, T* r) {  // B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
    r[0] = V::sub(d[0], d[2]);
    r[1] = V::add(d[1], d[2]);
    r[2] = V::sub(d[2], d[1]);
    r[3] = V::sub(d[1], d[3]);
  }
  static void output(const T* m, T* o) {  // A^T = [1 1 1 0; 0 1 -1 -1]
    o[0] = V::add(V::add(m[0], m[1]), m[2]);
    o[1] = V::sub(V::sub(m[1], m[2]), m[3]);
  }
};

// F(4, 3): points 0, 1, -1, 2, -2 and infinity; the rows of B^T and A^T share their
// even/odd halves.
template <class V>
struct WinogradTransform1d<V, WinogradTile::kF4x4> {
  using T = typename V::T;
  static void input(const T* d, T* r) {
    // B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
    //        0 4 0 -5 0 1]
    const T four = V::set1(4.0f), five = V::set1(5.0f), two = V::set1(2.0f);
    const T even4 = V::fnma(four, d[2], d[4]), odd4 = V::fnma(four, d[1], d[3]);
    const T even1 = V::sub(d[4], d[2]), odd2 = V::mul(two, V::sub(d[3], d[1]));
    r[0] = V::fnma(five, d[2], V::fma(four, d[0], d[4]));
    r[1] = V::add(even4, odd4);
    r[2] = V::sub(even4, odd4);
    r[3] = V::add(even1, odd2);
    r[4] = V::sub(even1, odd2);
    r[5] = V::fnma(five, d[3], V::fma(four, d[1], d[5]));
  }
  static void output(const T* m, T* o) {
    // A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
    const T sum12 = V::add(m[1], m[2]), diff12 = V::sub(m[1], m[2]);
    const T sum34 = V::add(m[3], m[4]), diff34 = V::sub(m[3], m[4]);
    o[0] = V::add(V::add(m[0], sum12), sum34);
    o[1] = V::fma(V::set1(2.0f), diff34, diff12);
    o[2] = V::fma(V::set1(4.0f), sum34, sum12);
    o[3] = V::add(V::fma(V::set1(8.0f), diff34, diff12), m[5]);
  }
};

// F(6, 3): points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity. Rows 1-6 of B^T and A^T pair up as
// (even part) +- (odd part), so each pair costs one set of products.
template <class V>
struct WinogradTransform1d<V, WinogradTile::kF6x6> {
  using T = typename V::T;
  static T c(float x) { return V::set1(x); }
  static void input(const T* d, T* r) {
    // B^T = [1 0 -21/4 0 21/4 0 -1 0; 0 1 1 -17/4 -17/4 1 1 0; 0 -1 1 17/4 -17/4 -1 1 0;
    //        0 1/2 1/4 -5/2 -5/4 2 1 0; 0 -1/2 1/4 5/2 -5/4 -2 1 0;
    //        0 2 4 -5/2 -5 1/2 1 0; 0 -2 4 5/2 -5 -1/2 1 0; 0 -1 0 21/4 0 -21/4 0 1]
    r[0] = V::fma(c(5.25f), V::sub(d[4], d[2]), V::sub(d[0], d[6]));
    r[7] = V::fma(c(5.25f), V::sub(d[3], d[5]), V::sub(d[7], d[1]));
    const T even1 = V::fnma(c(4.25f), d[4], V::add(d[2], d[6]));
    const T odd1 = V::fnma(c(4.25f), d[3], V::add(d[1], d[5]));
    r[1] = V::add(even1, odd1);
    r[2] = V::sub(even1, odd1);
    const T even2 = V::fnma(c(1.25f), d[4], V::fma(c(0.25f), d[2], d[6]));
    const T odd2 = V::fma(c(2.0f), d[5], V::fnma(c(2.5f), d[3], V::mul(c(0.5f), d[1])));
    r[3] = V::add(even2, odd2);
    r[4] = V::sub(even2, odd2);
    const T even3 = V::fnma(c(5.0f), d[4], V::fma(c(4.0f), d[2], d[6]));
    const T odd3 = V::fma(c(0.5f), d[5], V::fnma(c(2.5f), d[3], V::mul(c(2.0f), d[1])));
    r[5] = V::add(even3, odd3);
    r[6] = V::sub(even3, odd3);
  }
  static void output(const T* m, T* o) {
    // A^T = [1 1 1 1 1 1 1 0; 0 1 -1 2 -2 1/2 -1/2 0; 0 1 1 4 4 1/4 1/4 0;
    //        0 1 -1 8 -8 1/8 -1/8 0; 0 1 1 16 16 1/16 1/16 0; 0 1 -1 32 -32 1/32 -1/32 1]
    const T sum12 = V::add(m[1], m[2]), diff12 = V::sub(m[1], m[2]);
    const T sum34 = V::add(m[3], m[4]), diff34 = V::sub(m[3], m[4]);
    const T sum56 = V::add(m[5], m[6]), diff56 = V::sub(m[5], m[6]);
    o[0] = V::add(V::add(m[0], sum12), V::add(sum34, sum56));
    o[1] = V::fma(c(2.0f), diff34, V::fma(c(0.5f), diff56, diff12));
    o[2] = V::fma(c(4.0f), sum34, V::fma(c(0.25f), sum56, sum12));
    o[3] = V::fma(c(8.0f), diff34, V::fma(c(0.125f), diff56, diff12));
    o[4] = V::fma(c(16.0f), sum34, V::fma(c(0.0625f), sum56, sum12));
    o[5] = V::add(V::fma(c(32.0f), diff34, V::fma(c(0.03125f), diff56, diff12)), m[7]);
  }
};

// F(2, 3) at stride 2, by polyphase: the even samples d0, d2, d4 through F(2, 2) (points 0, 1 and
// infinity) with taps (g0, g2), the odd samples d1, d3 times g1. Positions: the 3 even
// frequencies, then the 2 odd samples.
template <class V>
struct WinogradTransform1d<V, WinogradTile::kF2x2S2> {
  using T = typename V::T;
  static void input(const T* d, T* r) {  // even part B^T = [1 -1 0; 0 1 0; 0 -1 1]
    r[0] = V::sub(d[0], d[2]);
    r[1] = d[2];
    r[2] = V::sub(d[4], d[2]);
    r[3] = d[1];
    r[4] = d[3];
  }
  static void output(const T* m, T* o) {  // even part A^T = [1 1 0; 0 1 1], plus the odd
    o[0] = V::add(V::add(m[0], m[1]), m[3]);
    o[1] = V::add(V::add(m[1], m[2]), m[4]);
  }
};

// F(4, 3) at stride 2, by polyphase: the even samples e_k = d_2k (k < 5) through F(4, 2) (points
// 0, 1, -1, 2 and infinity; B^T's rows scaled to integers, G's by the inverse) with taps
// (g0, g2), the odd samples d1, d3, d5, d7 times g1. Positions: the 5 even frequencies, then the
// 4 odd samples.
template <class V>
struct WinogradTransform1d<V, WinogradTile::kF4x4S2> {
  using T = typename V::T;
  static void input(const T* d, T* r) {
    // even part B^T = [2 -1 -2 1 0; 0 2 1 -1 0; 0 -2 3 -1 0; 0 -1 0 1 0; 0 2 -1 -2 1]
    const T two = V::set1(2.0f);
    const T e1 = d[2], e2 = d[4], e3 = d[6];
    const T odd = V::sub(e3, e1);
    r[0] = V::fma(two, V::sub(d[0], e2), odd);
    r[1] = V::fma(two, e1, V::sub(e2, e3));
    r[2] = V::sub(V::fnma(two, e1, V::mul(V::set1(3.0f), e2)), e3);
    r[3] = odd;
    r[4] = V::fma(two, V::sub(e1, e3), V::sub(d[8], e2));
    r[5] = d[1];
    r[6] = d[3];
    r[7] = d[5];
    r[8] = d[7];
  }
  static void output(const T* m, T* o) {
    // even part A^T = [1 1 1 1 0; 0 1 -1 2 0; 0 1 1 4 0; 0 1 -1 8 1], plus the odd
    const T sum12 = V::add(m[1], m[2]), diff12 = V::sub(m[1], m[2]);
    o[0] = V::add(V::add(m[0], sum12), V::add(m[3], m[5]));
    o[1] = V::add(V::fma(V::set1(2.0f), m[3], diff12), m[6]);
    o[2] = V::add(V::fma(V::set1(4.0f), m[3], sum12), m[7]);
    o[3] = V::add(V::add(V::fma(V::set1(8.0f), m[3], diff12), m[4]), m[8]);
  }
};

// The input transform B^T d B, the WinogradInputFn contract.
template <class V, WinogradTile Tile, class SrcT, class DstT>
void winograd_input(const void* const* src, int valid, void* dst, int64_t dst_stride) {
  using T = typename V::T;
  using Transform = WinogradTransform1d<V, Tile>;
  constexpr int L = V::kLanes, S = winograd_input_side(Tile);
  for (int v = 0; v * L < kKBlock; ++v) {
    const int lanes = valid - v * L;
    T t[S][S];  // B^T d, column by column
    for (int j = 0; j < S; ++j) {
      T column[S];
      for (int i = 0; i < S; ++i) {
        const void* p = src[i * S + j];
        column[i] = p && lanes > 0 ? load_as_float<V>(static_cast<const SrcT*>(p) + v * L, lanes)
                                   : V::zero();
      }
      T transformed[S];
      Transform::input(column, transformed);
      for (int i = 0; i < S; ++i) t[i][j] = transformed[i];
    }
    DstT* out = static_cast<DstT*>(dst) + v * L;
    for (int i = 0; i < S; ++i) {  // (B^T d) B, row by row
      T row[S];
      Transform::input(t[i], row);
      for (int j = 0; j < S; ++j) store_from_float<V>(out + (i * S + j) * dst_stride, row[j], L);
    }
  }
}

// The output transform A^T M A, the WinogradOutputFn contract.
template <class V, WinogradTile Tile>
void winograd_output(const float* mm, int64_t m_stride, int columns, float* y) {
  using T = typename V::T;
  using Transform = WinogradTransform1d<V, Tile>;
  constexpr int L = V::kLanes, S = winograd_input_side(Tile), M = winograd_side(Tile);
  for (int c = 0; c < columns; c += L) {
    T t[M][S];  // A^T M, column by column
    for (int j = 0; j < S; ++j) {
      T column[S], transformed[M];
      for (int i = 0; i < S; ++i) column[i] = V::load(mm + (i * S + j) * m_stride + c);
      Transform::output(column, transformed);
      for (int i = 0; i < M; ++i) t[i][j] = transformed[i];
    }
    for (int i = 0; i < M; ++i) {  // (A^T M) A, row by row
      T row[M];
      Transform::output(t[i], row);
      for (int j = 0; j < M; ++j) V::store(y + (i * M + j) * columns + c, row[j]);
    }
  }
}

template <class V>
void widen_bf16_pairs(const uint32_t* pairs, int lanes, int pair_rows, float* dst) {
  constexpr int L = V::kLanes;
  for (int j = 0; j < pair_rows; ++j) {
    for (int lane = 0; lane < lanes; lane += L) {
      for (int odd = 0; odd < 2; ++odd) {
        V::store(dst + size_t(2 * j + odd) * lanes + lane,
                 V::load_pair_element(pairs + size_t(j) * lanes + lane, odd));
      }
    }
  }
}

template <class V, WinogradTile Tile, class OperandT>
constexpr void set_winograd_kernels(ConvKernel& k) {
  k.winograd_input[winograd_index(Tile)][0] = &winograd_input<V, Tile, float, OperandT>;
  k.winograd_input[winograd_index(Tile)][1] = &winograd_input<V, Tile, uint16_t, OperandT>;
  k.winograd_output[winograd_index(Tile)] = &winograd_output<V, Tile>;
}

// What every conv kernel of an ISA shares besides its GEMM: the epilogue alone and Winograd's
// transforms into its operand type.
template <class V, int NRV, class OperandT>
constexpr void set_shared_kernels(ConvKernel& k) {
  k.epilogue[0] = &f32_epilogue<V, NRV, float>;
  k.epilogue[1] = &f32_epilogue<V, NRV, uint16_t>;
  set_winograd_kernels<V, WinogradTile::kF2x2, OperandT>(k);
  set_winograd_kernels<V, WinogradTile::kF4x4, OperandT>(k);
  set_winograd_kernels<V, WinogradTile::kF6x6, OperandT>(k);
  set_winograd_kernels<V, WinogradTile::kF2x2S2, OperandT>(k);
  set_winograd_kernels<V, WinogradTile::kF4x4S2, OperandT>(k);
  k.widen_bf16_pairs = &widen_bf16_pairs<V>;
}

// What every conv kernel sets besides its GEMMs: the shared kernels for its operand type
// (float, Bf16AsFloat or bf16 pairs), its tile, operand format and name.
template <class V, int NRV, class OperandT>
constexpr void set_conv_kernel_common(ConvKernel& k, int mr, OperandFormat operands,
                                      const char* name) {
  set_shared_kernels<V, NRV, OperandT>(k);
  k.mr = mr;
  k.nr = NRV * V::kLanes;
  k.operands = operands;
  k.name = name;
}

// A family's variants on a narrow conv's input in place (ConvKernel::window), for each stride:
// Family::window<OutT, kPixelStep> reads window rows kPixelStep values a pixel apart.
template <class Family, int... StrideIndex>
constexpr void set_window_kernels(ConvKernel& k, std::integer_sequence<int, StrideIndex...>) {
  ((k.window[StrideIndex][0] = Family::template window<float, (StrideIndex + 1) * kWindowChannels>,
    k.window[StrideIndex][1] =
        Family::template window<uint16_t, (StrideIndex + 1) * kWindowChannels>),
   ...);
}
template <class Family>
constexpr void set_window_kernels(ConvKernel& k) {
  set_window_kernels<Family>(k, std::make_integer_sequence<int, kWindowStrides>{});
}

// More independent chains than the FMAs a core has in flight, so only throughput limits the loop.
inline constexpr int kFmaChains = kFmasInFlight * 3 / 2;
static_assert(kFmaChains == 12, "f32_fma_loop unrolls its 12 chains");

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

// The f32 conv kernel as HiFi4, or as LoFi on bf16 operands widened to fp32 (for CPUs without
// AVX512_BF16; kPairOrder additionally in VDPBF16PS's exact accumulation order); pair_weights
// (kWidened only): reading its bf16 weights as pairs.
template <class V, int MR, int NRV>
constexpr ConvKernel f32_conv_kernel(const char* name, Bf16Operands bf16_operands,
                                     bool pair_weights = false) {
  ConvKernel k;
  // The exact order's (tests only) has no shorter kernels.
  const bool shorter = bf16_operands != Bf16Operands::kPairOrder;
  if (pair_weights) {
    set_family_kernels<F32ConvFamily<V, MR, NRV, true>>(k, shorter);
    // A bf16 input's values, widened as they are broadcast: a pointwise conv reads them in place.
    set_family_kernels<F32ConvFamily<V, MR, NRV, true, PixelRows, uint16_t>>(k.in_place, true);
  } else {
    set_family_kernels<F32ConvFamily<V, MR, NRV, false>>(k, shorter);
  }
  k.bf16_pair_weights = pair_weights;
  if (!pair_weights && bf16_operands != Bf16Operands::kPairOrder) {
    set_window_kernels<F32ConvFamily<V, MR, NRV, false>>(k);
  }
  if (bf16_operands == Bf16Operands::kNone) {
    // fp32 operands are the input's own values: a pointwise conv on fp32 reads them in place.
    set_family_kernels<F32ConvFamily<V, MR, NRV, false, PixelRows>>(k.in_place, true);
    set_conv_kernel_common<V, NRV, float>(k, MR, OperandFormat::kF32, name);
  } else {
    set_conv_kernel_common<V, NRV, Bf16AsFloat>(k, MR, OperandFormat::kF32, name);
  }
  k.bf16_operands = bf16_operands;
  // HiFi4's products and widened LoFi's alike are fp32 FMAs.
  k.product_loop = &f32_fma_loop<V>;
  k.product_flops_per_step = 2 * kFmaChains * V::kLanes;
  return k;
}

// Output pixels a depthwise row computes at once: NX accumulators share each weight load.
inline constexpr int kDepthwisePixels = 4;

// kNX output pixels from x on, channels [c, c + L): with kChecked, taps outside the input row
// are skipped; without, all are inside. kKernel > 0: a depthwise conv (one plane) of that kernel
// size, whose taps then unroll; 0: the row's own.
template <class V, class Src, class OutT, bool kRound, int kKernel, int kNX, bool kChecked>
void depthwise_block(const DepthwiseRow& r, int x, int c) {
  using T = typename V::T;
  constexpr int L = V::kLanes;
  const int kernel = kKernel > 0 ? kKernel : r.kernel;
  const int planes = kKernel > 0 ? 1 : r.planes;
  // Summed in an array whose address never escapes, so that the sums stay in registers: passed
  // to store_tile (not inlined) it lived on the stack, each FMA a load and a store.
  T acc[kNX];
  for (int m = 0; m < kNX; ++m) acc[m] = V::zero();
  const int in_lanes = r.in_channels - c;
  const int64_t pixel_step = int64_t(r.stride) * r.in_pixel_stride;  // between the block's pixels
  for (int ky = 0; ky < kernel && in_lanes > 0; ++ky) {
    const Src* row = static_cast<const Src*>(r.in_rows[ky]);
    if (!row) continue;
    for (int kx = 0; kx < kernel; ++kx) {
      const int ix0 = x * r.stride - r.padding + kx;
      const float* w = r.weights + int64_t(ky * kernel + kx) * planes * r.weight_stride + c;
      int64_t tap = int64_t(ix0) * r.in_pixel_stride + c;  // offset: ix0 may be in the padding
      for (int d = 0; d < planes; ++d, w += r.weight_stride, tap += r.plane_stride) {
        const T wv = V::load(w);
#pragma GCC unroll 4
        for (int m = 0; m < kNX; ++m) {
          const int ix = ix0 + m * r.stride;
          if (kChecked && (ix < 0 || ix >= r.in_width)) continue;
          T v = load_as_float<V>(row + (tap + m * pixel_step), in_lanes);
          if constexpr (kRound) v = V::round_bf16(v);
          acc[m] = V::fma(v, wv, acc[m]);
        }
      }
    }
  }
  T sums[kNX][1];
  for (int m = 0; m < kNX; ++m) sums[m][0] = acc[m];
  ConvTile t = r.tile;
  const size_t element = sizeof(OutT);
  t.out = static_cast<std::byte*>(t.out) + (int64_t(x) * t.out_stride + c) * element;
  if (t.residual) {
    t.residual =
        static_cast<const std::byte*>(t.residual) + (int64_t(x) * t.residual_stride + c) * element;
  }
  t.bias += c;
  t.rows = kNX;
  t.columns = std::min(L, r.tile.columns - c);
  t.channels = r.tile.channels - c;
  store_tile<V, kNX, 1, OutT>(sums, t);
}

// Output pixels whose every tap is inside the input row run kDepthwisePixels at a time without
// checks; the borders one at a time with them.
template <class V, class Src, class OutT, bool kRound, int kKernel>
void depthwise_row_with(const DepthwiseRow& r) {
  constexpr int L = V::kLanes;
  const int first_inside = std::min(r.out_width, (r.padding + r.stride - 1) / r.stride);
  const int last_start = r.in_width - r.kernel + r.padding;  // x * stride <= this
  const int inside_end = last_start < 0
                             ? first_inside
                             : std::clamp(last_start / r.stride + 1, first_inside, r.out_width);
  for (int c = 0; c < r.tile.columns; c += L) {
    int x = 0;
    for (; x < first_inside; ++x) depthwise_block<V, Src, OutT, kRound, kKernel, 1, true>(r, x, c);
    for (; x + kDepthwisePixels <= inside_end; x += kDepthwisePixels) {
      depthwise_block<V, Src, OutT, kRound, kKernel, kDepthwisePixels, false>(r, x, c);
    }
    for (; x < r.out_width; ++x) depthwise_block<V, Src, OutT, kRound, kKernel, 1, true>(r, x, c);
  }
}

// The depthwise 3x3 convs (MobileNet-style models: Yolo-Fastest) with their taps unrolled
// (about 0.7x the time in conv2d_bench's fastest.dw rows); any other kernel or grouping as the row
// says.
template <class V, class Src, class OutT, bool kRound>
void depthwise_row(const DepthwiseRow& r) {
  if (r.kernel == 3 && r.planes == 1) {
    depthwise_row_with<V, Src, OutT, kRound, 3>(r);
  } else {
    depthwise_row_with<V, Src, OutT, kRound, 0>(r);
  }
}

template <class V>
void f32_activation(const float* in, float* out, int64_t n, Activation activation) {
  constexpr int L = V::kLanes;
  int64_t i = 0;
  with_activation(activation, [&](auto a) {
    constexpr Activation A = decltype(a)::value;
    for (; i + L <= n; i += L) V::store(out + i, activate<V, A>(V::load(in + i)));
    if (i < n) {
      const int rest = int(n - i);
      V::store_partial(out + i, activate<V, A>(V::load_partial(in + i, rest)), rest);
    }
  });
}

template <class V>
void f32_add(const float* a, const float* b, float* out, int64_t n) {
  constexpr int L = V::kLanes;
  int64_t i = 0;
  for (; i + L <= n; i += L) V::store(out + i, V::add(V::load(a + i), V::load(b + i)));
  if (i < n) {
    const int rest = int(n - i);
    V::store_partial(out + i, V::add(V::load_partial(a + i, rest), V::load_partial(b + i, rest)),
                     rest);
  }
}

template <class V, class T>
void max_into(void* dst, const void* src, int64_t n) {
  constexpr int L = V::kLanes;
  T* d = static_cast<T*>(dst);
  const T* s = static_cast<const T*>(src);
  for (int64_t i = 0; i < n; i += L) {
    const int lanes = int(std::min<int64_t>(L, n - i));
    store_from_float<V>(
        d + i, V::max(load_as_float<V>(s + i, lanes), load_as_float<V>(d + i, lanes)), lanes);
  }
}

// The table every ISA file exports, given its vector type, its conv kernels and its bfloat8_b
// weight decoders (which the conv kernels then use too).
// Its LoFi kernels are the f32 one on bf16 operands: widened, and in VDPBF16PS's order.
template <class V, int MR, int NRV>
constexpr KernelTable make_kernel_table(Isa isa, const char* hifi4_name, const char* lofi_name,
                                        const char* lofi_decoded_name, const char* lofi_exact_name,
                                        const char* lofi_window_name,
                                        Bfp8PairsDecodeFn bfp8_decode_pairs,
                                        Bfp8F32DecodeFn bfp8_decode_f32,
                                        const ConvBlocking& blocking) {
  ConvKernel hifi4 = f32_conv_kernel<V, MR, NRV>(hifi4_name, Bf16Operands::kNone);
  ConvKernel lofi = f32_conv_kernel<V, MR, NRV>(lofi_name, Bf16Operands::kWidened, true);
  ConvKernel lofi_decoded = f32_conv_kernel<V, MR, NRV>(lofi_decoded_name, Bf16Operands::kWidened);
  ConvKernel lofi_exact = f32_conv_kernel<V, MR, NRV>(lofi_exact_name, Bf16Operands::kPairOrder);
  ConvKernel lofi_window = f32_conv_kernel<V, MR, NRV>(lofi_window_name, Bf16Operands::kWidened);
  for (ConvKernel* k : {&hifi4, &lofi, &lofi_decoded, &lofi_exact, &lofi_window}) {
    k->bfp8_decode_pairs = bfp8_decode_pairs;
    k->bfp8_decode_f32 = bfp8_decode_f32;
    k->blocking = blocking;
  }
  return KernelTable{
      isa,
      hifi4,
      lofi,
      lofi_decoded,
      lofi_exact,
      lofi_window,
      &f32_activation<V>,
      &f32_add<V>,
      {&max_into<V, float>, &max_into<V, uint16_t>},
      bfp8_decode_pairs,
      bfp8_decode_f32,
      {{&depthwise_row<V, float, float, false>, &depthwise_row<V, float, uint16_t, false>},
       {&depthwise_row<V, float, float, true>, &depthwise_row<V, float, uint16_t, true>},
       {&depthwise_row<V, uint16_t, float, false>, &depthwise_row<V, uint16_t, uint16_t, false>}}};
}

}  // namespace
}  // namespace yolo4::kernels
