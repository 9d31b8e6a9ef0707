#include "yolo4/ops/eltwise.h"

#include <algorithm>
#include <cstdint>

#include "yolo4/core/error.h"
#include "yolo4/kernels/kernels.h"

namespace yolo4 {

namespace {

void check_input(const Tensor& t, const char* op, const char* name) {
  YOLO4_CHECK(t.is_allocated(), op, ": ", name, " is not allocated (deallocated?)");
  YOLO4_CHECK(t.dtype() == DataType::FLOAT32 || t.dtype() == DataType::BFLOAT16, op, ": ", name,
              " dtype ", to_string(t.dtype()), ", expected float32 or bfloat16");
}

Tensor allocate_output(Device& device, const Shape& shape, DataType dtype) {
  TensorSpec spec;
  spec.shape = shape;
  spec.dtype = dtype;
  spec.memory_config.memory_layout = TensorMemoryLayout::HEIGHT_SHARDED;  // how the work is cut
  return device.allocate(spec);
}

// True when `t` stores its pixels back to back at `stride` with zeros between C and the
// stride (a TILE tensor, or C == stride): one flat pass then covers the padding too, which
// zero_padding_of then restores (f(0) is not zero for every activation).
bool dense_at(const Tensor& t, int64_t stride) {
  return t.pixel_stride() == stride && (t.layout() == Layout::TILE || t.shape().c == stride);
}

// Cores of the grid the row sharding below uses: one per pixel row at most.
int row_cores(Device& device, const Shape& shape) {
  return int(std::min<int64_t>(device.num_cores(), int64_t(shape.n) * shape.h));
}

// HEIGHT sharding: core c of the grid gets the c-th contiguous range of the N*H pixel rows and
// calls work(first_pixel, pixels) once for it.
template <class Work>
void for_each_row_shard(Device& device, const Shape& shape, int cores, const Work& work) {
  const int64_t rows = int64_t(shape.n) * shape.h;
  device.pool().run(cores, [&](int core) {
    const int64_t begin = rows * core / cores, end = rows * (core + 1) / cores;
    work(begin * shape.w, (end - begin) * shape.w);
  });
}

template <class T>
void zero_padding(T* pixel, int channels, int64_t stride) {
  if (stride > channels) std::fill_n(pixel + channels, stride - channels, T{});  // +0.0
}

// zero_padding for each of `pixels` pixels from `first`: after a flat pass over the padding.
template <class T>
void zero_padding_of(T* out, int64_t first, int64_t pixels, int channels, int64_t stride) {
  if (stride == channels) return;
  for (int64_t p = first; p < first + pixels; ++p) zero_padding(out + p * stride, channels, stride);
}

// The channels of each output pixel an op writes: the whole stride of a TILE tensor (zeroing
// its padding), only C of a slice, whose other channels belong to other producers.
int64_t written_extent(const Tensor& output) {
  return output.layout() == Layout::TILE ? output.pixel_stride() : output.shape().c;
}

// How the f32 kernels see an element type: float passes through them in place, in one call;
// bfloat16 is widened block by block into an fp32 scratch and the result rounded once.
template <class T>
struct F32Io;

template <>
struct F32Io<float> {
  static constexpr int64_t kBlock = INT64_MAX;  // no blocking
  static constexpr int64_t kScratch = 1;        // unused
  static const float* load(const float* p, int64_t, float*) { return p; }
  static float* target(float* p, float*) { return p; }
  static void store(const float*, float*, int64_t) {}
};

template <>
struct F32Io<bfloat16> {
  static constexpr int64_t kBlock = 256;
  static constexpr int64_t kScratch = kBlock;
  static const float* load(const bfloat16* p, int64_t n, float* scratch) {
    for (int64_t i = 0; i < n; ++i) scratch[i] = to_float(p[i]);
    return scratch;
  }
  static float* target(bfloat16*, float* scratch) { return scratch; }
  static void store(const float* values, bfloat16* p, int64_t n) {
    for (int64_t i = 0; i < n; ++i) p[i] = to_bfloat16(values[i]);
  }
};

// out[i] = activation(in[i]) for n elements of type T.
template <class T>
void activation_span(kernels::F32UnaryFn kernel, const T* in, T* out, int64_t n, Activation act) {
  using Io = F32Io<T>;
  float x[Io::kScratch], y[Io::kScratch];
  for (int64_t i = 0; i < n;) {
    const int64_t m = std::min(Io::kBlock, n - i);
    float* result = Io::target(out + i, y);
    kernel(Io::load(in + i, m, x), result, m, act);
    Io::store(result, out + i, m);
    i += m;
  }
}

// Elements the activation of a fused add follows the add by: blocks that stay in L1 between.
constexpr int64_t kFusedBlock = 1024;

// out[i] = activation(a[i] + b[i]) for n elements of type T; out may be a or b itself.
template <class T>
void add_span(const kernels::KernelTable& kernels, const T* a, const T* b, T* out, int64_t n,
              Activation activation) {
  using Io = F32Io<T>;
  const int64_t block =
      activation == Activation::kNone ? Io::kBlock : std::min(Io::kBlock, kFusedBlock);
  float xa[Io::kScratch], xb[Io::kScratch], y[Io::kScratch];
  for (int64_t i = 0; i < n;) {
    const int64_t m = std::min(block, n - i);
    float* result = Io::target(out + i, y);
    kernels.f32_add(Io::load(a + i, m, xa), Io::load(b + i, m, xb), result, m);
    if (activation != Activation::kNone) kernels.f32_activation(result, result, m, activation);
    Io::store(result, out + i, m);
    i += m;
  }
}

template <class T>
void activation_rows(Device& device, int cores, const Tensor& input, const Tensor& output,
                     Activation activation) {
  const auto kernel = kernels::kernel_table(device.isa()).f32_activation;
  const T* in = input.data<T>();
  T* out = output.data<T>();
  const int channels = input.shape().c;
  const int64_t in_stride = input.pixel_stride(), stride = output.pixel_stride();
  const bool flat = dense_at(input, stride);
  for_each_row_shard(device, input.shape(), cores, [&](int64_t first, int64_t pixels) {
    if (flat) {
      activation_span(kernel, in + first * stride, out + first * stride, pixels * stride,
                      activation);
      return zero_padding_of(out, first, pixels, channels, stride);
    }
    for (int64_t p = first; p < first + pixels; ++p) {
      activation_span(kernel, in + p * in_stride, out + p * stride, channels, activation);
      zero_padding(out + p * stride, channels, stride);
    }
  });
}

template <class T>
void add_rows(Device& device, int cores, const Tensor& a, const Tensor& b, const Tensor& output,
              Activation activation) {
  const auto& kernels = kernels::kernel_table(device.isa());
  const T *pa = a.data<T>(), *pb = b.data<T>();
  T* out = output.data<T>();
  const int channels = a.shape().c;
  const int64_t a_stride = a.pixel_stride(), b_stride = b.pixel_stride();
  const int64_t stride = output.pixel_stride(), extent = written_extent(output);
  const bool flat = dense_at(a, stride) && dense_at(b, stride) && dense_at(output, stride);
  for_each_row_shard(device, a.shape(), cores, [&](int64_t first, int64_t pixels) {
    if (flat) {
      const int64_t offset = first * stride;
      add_span(kernels, pa + offset, pb + offset, out + offset, pixels * stride, activation);
      return zero_padding_of(out, first, pixels, channels, stride);
    }
    for (int64_t p = first; p < first + pixels; ++p) {
      add_span(kernels, pa + p * a_stride, pb + p * b_stride, out + p * stride, channels,
               activation);
      zero_padding(out + p * stride, channels, extent);
    }
  });
}

// `ops` FLOPs per element; `tensors` tensors of x's size read or written.
void describe_elementwise(OpRecord& r, const Tensor& x, int cores, int ops, int tensors) {
  r.input = r.output = x.shape();
  r.dtype = x.dtype();
  r.cores = cores;
  r.flops = double(ops) * double(x.shape().elements());
  r.bytes = tensors * double(traits(x.dtype()).block_bytes) * double(x.shape().elements());
}

void check_add_inputs(const Tensor& a, const Tensor& b) {
  check_input(a, "add", "input a");
  check_input(b, "add", "input b");
  YOLO4_CHECK(a.dtype() == b.dtype(), "add: input b dtype ", to_string(b.dtype()), ", expected ",
              to_string(a.dtype()), " (the dtype of input a; inputs must share one)");
  YOLO4_CHECK(a.shape() == b.shape(), "add: input b has shape ", to_string(b.shape()),
              ", expected the shape of input a ", to_string(a.shape()));
}

}  // namespace

Tensor activation(Device& device, const Tensor& input, Activation activation) {
  check_input(input, "activation", "input");
  Tensor output = allocate_output(device, input.shape(), input.dtype());
  const int cores = row_cores(device, input.shape());
  ProfiledOp profiled(device, "activation");
  if (profiled.active()) describe_elementwise(profiled.record, input, cores, 1, 2);
  if (input.dtype() == DataType::BFLOAT16) {
    activation_rows<bfloat16>(device, cores, input, output, activation);
  } else {
    activation_rows<float>(device, cores, input, output, activation);
  }
  return output;
}

void add(Device& device, const Tensor& a, const Tensor& b, const Tensor& output,
         Activation activation) {
  check_add_inputs(a, b);
  YOLO4_CHECK(output.is_allocated(), "add: output is not allocated (deallocated?)");
  YOLO4_CHECK(output.shape() == a.shape() && output.dtype() == a.dtype(), "add: output ",
              to_string(output.shape()), " ", to_string(output.dtype()), ", expected the inputs' ",
              to_string(a.shape()), " ", to_string(a.dtype()));
  const int cores = row_cores(device, a.shape());
  ProfiledOp profiled(device, "add");
  if (profiled.active()) {
    describe_elementwise(profiled.record, a, cores, activation == Activation::kNone ? 1 : 2, 3);
  }
  if (a.dtype() == DataType::BFLOAT16) {
    add_rows<bfloat16>(device, cores, a, b, output, activation);
  } else {
    add_rows<float>(device, cores, a, b, output, activation);
  }
}

Tensor add(Device& device, const Tensor& a, const Tensor& b, Activation activation) {
  check_add_inputs(a, b);
  Tensor output = allocate_output(device, a.shape(), a.dtype());
  add(device, a, b, output, activation);
  return output;
}

}  // namespace yolo4
