#include "yolo4/ops/pool.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "yolo4/core/error.h"

namespace yolo4 {

namespace {

void check_dtype(const Tensor& t, const char* name) {
  YOLO4_CHECK(t.dtype() == DataType::FLOAT32 || t.dtype() == DataType::BFLOAT16,
              "max_pool2d: ", name, " dtype ", to_string(t.dtype()),
              ", expected float32 or bfloat16");
}

void validate(const Tensor& input, int kernel) {
  YOLO4_CHECK(input.is_allocated(), "max_pool2d: input is not allocated (deallocated?)");
  check_dtype(input, "input");
  YOLO4_CHECK(kernel >= 1 && kernel % 2 == 1, "max_pool2d: kernel ", kernel,
              ", expected an odd kernel >= 1 (same padding kernel / 2 keeps the shape)");
}

void validate_output(const Tensor& input, const Tensor& output) {
  YOLO4_CHECK(output.is_allocated(), "max_pool2d: output is not allocated (deallocated?)");
  YOLO4_CHECK(output.shape() == input.shape() && output.dtype() == input.dtype(),
              "max_pool2d: output ", to_string(output.shape()), " ", to_string(output.dtype()),
              ", expected the input's ", to_string(input.shape()), " ", to_string(input.dtype()));
  YOLO4_CHECK(output.data<std::byte>() != input.data<std::byte>(),
              "max_pool2d: output is the input (the pool cannot run in place)");
}

// Pixels back to back at their stride with zeros (or nothing) between C and the stride.
bool dense(const Tensor& t) {
  return t.layout() == Layout::TILE || t.shape().c == t.pixel_stride();
}

inline float as_float(float x) {
  return x;
}
inline float as_float(bfloat16 x) {
  return to_float(x);
}

// Everything one pass needs. `run` channels are pooled per pixel: the output's whole padded
// stride when input and output are dense at the same stride (max of zeros stays zero), else C.
// Each output pixel gets `extent` channels written: its stride for TILE (the padding zeroed),
// only C for a slice, whose neighbours belong to other producers.
template <class T>
struct PoolGeometry {
  const T* in;
  int64_t in_stride;
  T* out;
  int64_t out_stride;
  int h, w, radius;
  int64_t run;
  int64_t extent;
};

// dst = max(dst, src) elementwise, compared as floats (exact for bfloat16) and keeping the
// winning element itself; for float this ternary form is what GCC vectorises into maxps.
template <class T>
void max_into(T* __restrict dst, const T* __restrict src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = as_float(src[i]) > as_float(dst[i]) ? src[i] : dst[i];
}

template <class T>
void copy_or_max(T* dst, const T* src, int64_t n, bool copy) {
  if (copy) {
    std::memcpy(dst, src, size_t(n) * sizeof(T));
  } else {
    max_into(dst, src, n);
  }
}

// The vertical half: colmax[x] = max over the window's input rows (clipped to the image) of
// pixel (row, x). colmax holds w pixels of `run` channels back to back.
template <class T>
void max_over_rows(const PoolGeometry<T>& g, int64_t image, int y, T* colmax) {
  const int y0 = std::max(0, y - g.radius), y1 = std::min(g.h - 1, y + g.radius);
  for (int iy = y0; iy <= y1; ++iy) {
    const T* row = g.in + (image * g.h + iy) * g.w * g.in_stride;
    if (g.in_stride == g.run) {  // a dense row: one long run, vectorised even for small C
      copy_or_max(colmax, row, g.w * g.run, iy == y0);
      continue;
    }
    for (int x = 0; x < g.w; ++x) {
      copy_or_max(colmax + x * g.run, row + x * g.in_stride, g.run, iy == y0);
    }
  }
}

// The horizontal half: each output pixel is the max of colmax over its clipped window.
template <class T>
void max_over_columns(const PoolGeometry<T>& g, const T* colmax, T* out_row) {
  for (int x = 0; x < g.w; ++x) {
    const int x0 = std::max(0, x - g.radius), x1 = std::min(g.w - 1, x + g.radius);
    T* out = out_row + x * g.out_stride;
    std::memcpy(out, colmax + x0 * g.run, size_t(g.run) * sizeof(T));
    for (int ix = x0 + 1; ix <= x1; ++ix) max_into(out, colmax + ix * g.run, g.run);
    if (g.extent > g.run) std::fill_n(out + g.run, g.extent - g.run, T{});  // +0.0
  }
}

template <class T>
PoolGeometry<T> geometry(const Tensor& input, const Tensor& output, int kernel) {
  PoolGeometry<T> g;
  g.in = input.data<T>();
  g.in_stride = input.pixel_stride();
  g.out = output.data<T>();
  g.out_stride = output.pixel_stride();
  g.h = input.shape().h;
  g.w = input.shape().w;
  g.radius = kernel / 2;
  const bool padded = g.in_stride == g.out_stride && dense(input) && dense(output);
  g.run = padded ? g.out_stride : input.shape().c;
  g.extent = output.layout() == Layout::TILE ? g.out_stride : output.shape().c;
  return g;
}

// HEIGHT sharding: core c pools the c-th contiguous range of the N*H output rows.
template <class T>
void pool_rows(Device& device, const PoolGeometry<T>& g, int64_t rows, int cores) {
  device.pool().run(cores, [&](int core) {
    thread_local std::vector<T> colmax;
    colmax.resize(size_t(g.w * g.run));
    for (int64_t r = rows * core / cores; r < rows * (core + 1) / cores; ++r) {
      max_over_rows(g, r / g.h, int(r % g.h), colmax.data());
      max_over_columns(g, colmax.data(), g.out + r * g.w * g.out_stride);
    }
  });
}

// Max operations of one separable pass along an axis of `extent` positions: each position
// takes the max of its clipped window, one operation per element after the first.
double window_ops(int extent, int radius) {
  double ops = 0;
  for (int p = 0; p < extent; ++p)
    ops += std::min(extent - 1, p + radius) - std::max(0, p - radius);
  return ops;
}

}  // namespace

void max_pool2d(Device& device, const Tensor& input, const Tensor& output, int kernel) {
  validate(input, kernel);
  validate_output(input, output);
  const Shape& shape = input.shape();
  const int64_t rows = int64_t(shape.n) * shape.h;
  const int cores = int(std::min<int64_t>(device.num_cores(), rows));
  ProfiledOp profiled(device, "max_pool2d");
  if (profiled.active()) {
    OpRecord& r = profiled.record;
    r.input = r.output = shape;
    r.dtype = input.dtype();
    r.cores = cores;
    // The vertical pass over every column, then the horizontal pass over every row.
    r.flops = double(shape.n) * shape.c *
              (double(shape.w) * window_ops(shape.h, kernel / 2) +
               double(shape.h) * window_ops(shape.w, kernel / 2));
    r.bytes = 2.0 * traits(input.dtype()).block_bytes * double(shape.elements());
  }
  if (input.dtype() == DataType::BFLOAT16) {
    pool_rows(device, geometry<bfloat16>(input, output, kernel), rows, cores);
  } else {
    pool_rows(device, geometry<float>(input, output, kernel), rows, cores);
  }
}

Tensor max_pool2d(Device& device, const Tensor& input, int kernel) {
  validate(input, kernel);
  TensorSpec spec;
  spec.shape = input.shape();
  spec.dtype = input.dtype();
  spec.memory_config.memory_layout = TensorMemoryLayout::HEIGHT_SHARDED;
  Tensor output = device.allocate(spec);
  max_pool2d(device, input, output, kernel);
  return output;
}

std::array<Tensor, 3> spp_pools(Device& device, const Tensor& input) {
  // A 5-window of 5-windows is exactly the 9-window, clipped to the image the same way, so each
  // larger pool costs one 5-pool of the previous instead of a pool of its own size.
  Tensor pool5 = max_pool2d(device, input, 5);
  Tensor pool9 = max_pool2d(device, pool5, 5);
  Tensor pool13 = max_pool2d(device, pool9, 5);
  return {pool5, pool9, pool13};
}

void spp_pools(Device& device, const Tensor& input, const Tensor& pool5_out,
               const Tensor& pool9_out, const Tensor& pool13_out) {
  // Checked up front so that a bad pool13_out fails before anything is written.
  validate(input, 5);
  for (const Tensor* out : {&pool5_out, &pool9_out, &pool13_out}) validate_output(input, *out);
  max_pool2d(device, input, pool5_out, 5);
  max_pool2d(device, pool5_out, pool9_out, 5);
  max_pool2d(device, pool9_out, pool13_out, 5);
}

}  // namespace yolo4
