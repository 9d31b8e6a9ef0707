#include "yolo4/ops/concat.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "yolo4/core/error.h"

namespace yolo4 {

namespace {

// Checks every input and returns the output shape: the shared N, H, W and the summed C.
Shape validate(std::span<const Tensor> inputs) {
  YOLO4_CHECK(!inputs.empty(), "concat: no inputs, expected at least one");
  Shape out{};
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    YOLO4_CHECK(t.is_allocated(), "concat: input ", i, " is not allocated (deallocated?)");
    if (i == 0) {
      YOLO4_CHECK(t.dtype() == DataType::FLOAT32 || t.dtype() == DataType::BFLOAT16,
                  "concat: input 0 dtype ", to_string(t.dtype()), ", expected float32 or bfloat16");
    } else {
      YOLO4_CHECK(t.dtype() == inputs[0].dtype(), "concat: input ", i, " dtype ",
                  to_string(t.dtype()), ", expected ", to_string(inputs[0].dtype()),
                  " (the dtype of input 0; inputs must share one)");
    }
    const Shape& s = t.shape();
    if (i == 0) out = Shape{s.n, s.h, s.w, 0};
    YOLO4_CHECK(s.n == out.n && s.h == out.h && s.w == out.w, "concat: input ", i, " has shape ",
                to_string(s), ", expected N, H, W of input 0: [", out.n, ", ", out.h, ", ", out.w,
                ", *]");
    YOLO4_CHECK(int64_t(out.c) + s.c <= INT32_MAX, "concat: more than 2^31 output channels");
    out.c += s.c;
  }
  return out;
}

// One input's share of a pixel range: its channels copied to their place in each output pixel.
// `out` points at the input's first channel in the range's first output pixel; strides are in
// elements of `element` bytes.
void copy_channels(const Tensor& input, int64_t first, int64_t pixels, std::byte* out,
                   int64_t out_stride, size_t element) {
  const int64_t in_stride = input.pixel_stride();
  const std::byte* in = input.data<std::byte>() + first * in_stride * element;
  const size_t bytes = size_t(input.shape().c) * element;
  for (int64_t p = 0; p < pixels; ++p) {
    std::memcpy(out + p * out_stride * element, in + p * in_stride * element, bytes);
  }
}

}  // namespace

Tensor concat(Device& device, std::span<const Tensor> inputs) {
  TensorSpec spec;
  spec.shape = validate(inputs);
  spec.dtype = inputs[0].dtype();
  spec.memory_config.memory_layout = TensorMemoryLayout::HEIGHT_SHARDED;
  Tensor output = device.allocate(spec);
  const Shape& shape = spec.shape;
  const int64_t stride = output.pixel_stride();
  const size_t element = traits(spec.dtype).block_bytes;
  std::byte* dst = output.data<std::byte>();

  // HEIGHT sharding: core c fills the c-th contiguous range of the N*H pixel rows, one input at
  // a time (each a strided copy of whole channel runs), then zeroes the TILE padding.
  const int64_t rows = int64_t(shape.n) * shape.h;
  const int cores = int(std::min<int64_t>(device.num_cores(), rows));
  ProfiledOp profiled(device, "concat");
  if (profiled.active()) {
    OpRecord& r = profiled.record;
    r.input = inputs[0].shape();  // one input shape per record: the first; output has them all
    r.output = shape;
    r.dtype = spec.dtype;
    r.cores = cores;
    r.flops = 0;
    r.bytes = 2.0 * double(element) * double(shape.elements());  // each element read and written
  }
  device.pool().run(cores, [&](int core) {
    const int64_t first = rows * core / cores * shape.w;
    const int64_t pixels = (rows * (core + 1) / cores) * shape.w - first;
    int64_t offset = 0;
    for (const Tensor& input : inputs) {
      copy_channels(input, first, pixels, dst + (first * stride + offset) * element, stride,
                    element);
      offset += input.shape().c;
    }
    if (stride == shape.c) return;
    for (int64_t p = first; p < first + pixels; ++p) {
      std::memset(dst + (p * stride + shape.c) * element, 0, size_t(stride - shape.c) * element);
    }
  });
  return output;
}

}  // namespace yolo4
