#include "yolo4/ops/pool.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "yolo4/core/error.h"
#include "yolo4/kernels/kernels.h"

namespace yolo4 {

namespace {

void check_dtype(const Tensor& t, const char* name) {
  YOLO4_CHECK(t.dtype() == DataType::FLOAT32 || t.dtype() == DataType::BFLOAT16,
              "max_pool2d: ", name, " dtype ", to_string(t.dtype()),
              ", expected float32 or bfloat16");
}

int padding_of(const MaxPool2dParams& params) {
  return params.padding == -1 ? params.size - 1 : params.padding;
}

// Outputs along an axis of `extent` inputs, 0 when not even one window fits (checked before
// dividing: C++ division truncates a negative span towards zero). In 64 bits: padding and size
// come from a cfg file.
int output_extent(int extent, const MaxPool2dParams& params) {
  const int64_t span = int64_t(extent) + padding_of(params) - params.size;
  return span < 0 ? 0 : int(span / params.stride + 1);
}

Shape output_shape(const Shape& in, const MaxPool2dParams& params) {
  return Shape{in.n, output_extent(in.h, params), output_extent(in.w, params), in.c};
}

void validate(const Tensor& input, const MaxPool2dParams& params) {
  YOLO4_CHECK(input.is_allocated(), "max_pool2d: input is not allocated (deallocated?)");
  check_dtype(input, "input");
  YOLO4_CHECK(params.size >= 1, "max_pool2d: size ", params.size, ", expected >= 1");
  YOLO4_CHECK(params.stride >= 1, "max_pool2d: stride ", params.stride, ", expected >= 1");
  // Up to 2 * (size - 1) every window still overlaps the image, so it has a winner.
  const int64_t max_padding = 2 * (int64_t(params.size) - 1);
  YOLO4_CHECK(params.padding >= -1 && params.padding <= max_padding, "max_pool2d: padding ",
              params.padding, " for size ", params.size, ", expected 0..", max_padding,
              " (every window overlapping the image) or -1 (darknet's default, size - 1)");
  const Shape out = output_shape(input.shape(), params);
  YOLO4_CHECK(out.h >= 1 && out.w >= 1, "max_pool2d: input ", to_string(input.shape()),
              " has no size ", params.size, " window with padding ", padding_of(params),
              ", expected H and W >= ", params.size - padding_of(params));
}

// The stride-1 same-padding pool of the kernel overloads: odd kernels only, whose padding
// kernel - 1 splits evenly, kernel / 2 on each side.
MaxPool2dParams same_padding(int kernel) {
  YOLO4_CHECK(kernel >= 1 && kernel % 2 == 1, "max_pool2d: kernel ", kernel,
              ", expected an odd kernel >= 1 (same padding kernel / 2 keeps the shape)");
  return MaxPool2dParams{kernel, 1, kernel - 1};
}

void validate_output(const Tensor& input, const Tensor& output, const MaxPool2dParams& params) {
  YOLO4_CHECK(output.is_allocated(), "max_pool2d: output is not allocated (deallocated?)");
  const Shape expected = output_shape(input.shape(), params);
  YOLO4_CHECK(output.shape() == expected && output.dtype() == input.dtype(), "max_pool2d: output ",
              to_string(output.shape()), " ", to_string(output.dtype()), ", expected ",
              to_string(expected), " ", to_string(input.dtype()), " (the input ",
              to_string(input.shape()), " pooled by size ", params.size, " stride ", params.stride,
              " padding ", padding_of(params), ")");
  YOLO4_CHECK(output.data<std::byte>() != input.data<std::byte>(),
              "max_pool2d: output is the input (the pool cannot run in place)");
}

// Pixels back to back at their stride with zeros (or nothing) between C and the stride.
bool dense(const Tensor& t) {
  return t.layout() == Layout::TILE || t.shape().c == t.pixel_stride();
}

// Output o's window along an axis of `extent` inputs: inputs o * stride - before onwards, size
// of them, clipped to the image.
struct Window {
  int size, stride, before;
  int first(int o) const { return std::max(0, o * stride - before); }
  int last(int o, int extent) const { return std::min(extent - 1, o * stride - before + size - 1); }
};

Window window_of(const MaxPool2dParams& params) {
  return Window{params.size, params.stride, padding_of(params) / 2};
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
  int in_h, in_w, out_h, out_w;
  Window window;
  int64_t run;
  int64_t extent;
  kernels::MaxIntoFn max_into;  // dst = max(dst, src), the ISA's kernel for T
};

template <class T>
void copy_or_max(const PoolGeometry<T>& g, T* dst, const T* src, int64_t n, bool copy) {
  if (copy) {
    std::memcpy(dst, src, size_t(n) * sizeof(T));
  } else {
    g.max_into(dst, src, n);
  }
}

// The vertical half: colmax[x] = max over output row y's window of input rows (clipped to the
// image) of pixel (row, x). colmax holds in_w pixels of `run` channels back to back.
template <class T>
void max_over_rows(const PoolGeometry<T>& g, int64_t image, int y, T* colmax) {
  const int y0 = g.window.first(y), y1 = g.window.last(y, g.in_h);
  for (int iy = y0; iy <= y1; ++iy) {
    const T* row = g.in + (image * g.in_h + iy) * g.in_w * g.in_stride;
    if (g.in_stride == g.run) {  // a dense row: one long run, vectorised even for small C
      copy_or_max(g, colmax, row, g.in_w * g.run, iy == y0);
      continue;
    }
    for (int x = 0; x < g.in_w; ++x) {
      copy_or_max(g, colmax + x * g.run, row + x * g.in_stride, g.run, iy == y0);
    }
  }
}

// The horizontal half: each output pixel is the max of colmax over its clipped window.
template <class T>
void max_over_columns(const PoolGeometry<T>& g, const T* colmax, T* out_row) {
  for (int x = 0; x < g.out_w; ++x) {
    const int x0 = g.window.first(x), x1 = g.window.last(x, g.in_w);
    T* out = out_row + x * g.out_stride;
    std::memcpy(out, colmax + x0 * g.run, size_t(g.run) * sizeof(T));
    for (int ix = x0 + 1; ix <= x1; ++ix) g.max_into(out, colmax + ix * g.run, g.run);
    if (g.extent > g.run) std::fill_n(out + g.run, g.extent - g.run, T{});  // +0.0
  }
}

template <class T>
PoolGeometry<T> geometry(const Device& device, const Tensor& input, const Tensor& output,
                         const Window& window) {
  PoolGeometry<T> g;
  g.max_into = kernels::kernel_table(device.isa()).max_into[std::is_same_v<T, bfloat16> ? 1 : 0];
  g.in = input.data<T>();
  g.in_stride = input.pixel_stride();
  g.out = output.data<T>();
  g.out_stride = output.pixel_stride();
  g.in_h = input.shape().h;
  g.in_w = input.shape().w;
  g.out_h = output.shape().h;
  g.out_w = output.shape().w;
  g.window = window;
  const bool padded = g.in_stride == g.out_stride && dense(input) && dense(output);
  g.run = padded ? g.out_stride : input.shape().c;
  g.extent = output.layout() == Layout::TILE ? g.out_stride : output.shape().c;
  return g;
}

// HEIGHT sharding: core c pools the c-th contiguous range of the N*H_out output rows.
template <class T>
void pool_rows(Device& device, const PoolGeometry<T>& g, int64_t rows, int cores) {
  device.pool().run(cores, [&](int core) {
    thread_local std::vector<T> colmax;
    colmax.resize(size_t(g.in_w * g.run));
    for (int64_t r = rows * core / cores; r < rows * (core + 1) / cores; ++r) {
      max_over_rows(g, r / g.out_h, int(r % g.out_h), colmax.data());
      max_over_columns(g, colmax.data(), g.out + r * g.out_w * g.out_stride);
    }
  });
}

// Max operations of one separable pass along an axis of `in_extent` inputs and `out_extent`
// outputs: each output takes the max of its clipped window, one operation per element after
// the first.
double window_ops(const Window& window, int in_extent, int out_extent) {
  double ops = 0;
  for (int o = 0; o < out_extent; ++o) ops += window.last(o, in_extent) - window.first(o);
  return ops;
}

}  // namespace

void max_pool2d(Device& device, const Tensor& input, const Tensor& output,
                const MaxPool2dParams& params) {
  validate(input, params);
  validate_output(input, output, params);
  const Shape& in = input.shape();
  const Shape& out = output.shape();
  const Window window = window_of(params);
  const int64_t rows = int64_t(out.n) * out.h;
  const int cores = int(std::min<int64_t>(device.num_cores(), rows));
  ProfiledOp profiled(device, "max_pool2d");
  if (profiled.active()) {
    OpRecord& r = profiled.record;
    r.input = in;
    r.output = out;
    r.dtype = input.dtype();
    r.cores = cores;
    // The vertical pass over every input column of each output row, then the horizontal pass
    // over every output row.
    r.flops = double(in.n) * in.c *
              (double(in.w) * window_ops(window, in.h, out.h) +
               double(out.h) * window_ops(window, in.w, out.w));
    r.bytes = traits(input.dtype()).block_bytes * double(in.elements() + out.elements());
  }
  if (input.dtype() == DataType::BFLOAT16) {
    pool_rows(device, geometry<bfloat16>(device, input, output, window), rows, cores);
  } else {
    pool_rows(device, geometry<float>(device, input, output, window), rows, cores);
  }
}

Tensor max_pool2d(Device& device, const Tensor& input, const MaxPool2dParams& params) {
  validate(input, params);
  TensorSpec spec;
  spec.shape = output_shape(input.shape(), params);
  spec.dtype = input.dtype();
  spec.memory_config.memory_layout = TensorMemoryLayout::HEIGHT_SHARDED;
  Tensor output = device.allocate(spec);
  max_pool2d(device, input, output, params);
  return output;
}

Tensor max_pool2d(Device& device, const Tensor& input, int kernel) {
  return max_pool2d(device, input, same_padding(kernel));
}

void max_pool2d(Device& device, const Tensor& input, const Tensor& output, int kernel) {
  max_pool2d(device, input, output, same_padding(kernel));
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
  const MaxPool2dParams pool5 = same_padding(5);
  validate(input, pool5);
  for (const Tensor* out : {&pool5_out, &pool9_out, &pool13_out}) {
    validate_output(input, *out, pool5);
  }
  max_pool2d(device, input, pool5_out, pool5);
  max_pool2d(device, pool5_out, pool9_out, pool5);
  max_pool2d(device, pool9_out, pool13_out, pool5);
}

}  // namespace yolo4
