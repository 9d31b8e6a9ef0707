#include "yolo4/ops/layout.h"

#include <algorithm>
#include <cstring>

#include "yolo4/core/error.h"

namespace yolo4 {

namespace {
size_t element_bytes(const Tensor& t, const char* op) {
  YOLO4_CHECK(t.is_allocated(), op, ": tensor is not allocated (deallocated?)");
  YOLO4_CHECK(t.dtype() == DataType::FLOAT32 || t.dtype() == DataType::BFLOAT16, op,
              ": tensor dtype ", to_string(t.dtype()), ", expected float32 or bfloat16");
  return traits(t.dtype()).block_bytes;
}

float load(const Tensor& t, int64_t index) {
  return t.dtype() == DataType::BFLOAT16 ? to_float(t.data<bfloat16>()[index])
                                         : t.data<float>()[index];
}

void store(const Tensor& t, int64_t index, float value) {
  if (t.dtype() == DataType::BFLOAT16) {
    t.data<bfloat16>()[index] = to_bfloat16(value);
  } else {
    t.data<float>()[index] = value;
  }
}

// Copies pixel rows of C elements between strided layouts; padding channels end up zero.
void copy_pixels(const std::byte* src, int64_t src_stride, std::byte* dst, int64_t dst_stride,
                 int64_t begin, int64_t end, int channels, size_t element) {
  for (int64_t p = begin; p < end; ++p) {
    std::memcpy(dst + p * dst_stride * element, src + p * src_stride * element, channels * element);
    if (dst_stride > channels) {
      std::memset(dst + (p * dst_stride + channels) * element, 0,
                  (dst_stride - channels) * element);
    }
  }
}
}  // namespace

Tensor from_nhwc(const float* data, const Shape& s, Layout layout, DataType dtype) {
  Tensor t = make_host_tensor({s, dtype, layout, {}});
  for (int64_t p = 0; p < s.pixels(); ++p)
    for (int c = 0; c < s.c; ++c) store(t, p * t.pixel_stride() + c, data[p * s.c + c]);
  return t;
}

Tensor from_nchw(const float* data, const Shape& s, Layout layout, DataType dtype) {
  Tensor t = make_host_tensor({s, dtype, layout, {}});
  const int64_t plane = int64_t(s.h) * s.w;
  for (int n = 0; n < s.n; ++n)
    for (int c = 0; c < s.c; ++c)
      for (int64_t i = 0; i < plane; ++i)
        store(t, (n * plane + i) * t.pixel_stride() + c, data[(int64_t(n) * s.c + c) * plane + i]);
  return t;
}

std::vector<float> to_nhwc(const Tensor& t) {
  element_bytes(t, "to_nhwc");
  const Shape& s = t.shape();
  std::vector<float> out(size_t(s.elements()));
  for (int64_t p = 0; p < s.pixels(); ++p)
    for (int c = 0; c < s.c; ++c) out[p * s.c + c] = load(t, p * t.pixel_stride() + c);
  return out;
}

std::vector<float> to_nchw(const Tensor& t) {
  element_bytes(t, "to_nchw");
  const Shape& s = t.shape();
  const int64_t plane = int64_t(s.h) * s.w;
  std::vector<float> out(size_t(s.elements()));
  for (int n = 0; n < s.n; ++n)
    for (int64_t i = 0; i < plane; ++i)
      for (int c = 0; c < s.c; ++c)
        out[(int64_t(n) * s.c + c) * plane + i] = load(t, (n * plane + i) * t.pixel_stride() + c);
  return out;
}

Tensor to_layout(Device& device, const Tensor& t, Layout layout) {
  const size_t element = element_bytes(t, "to_layout");
  TensorSpec spec = t.spec();
  spec.layout = layout;
  Tensor out = device.allocate(spec);
  copy_pixels(t.data<std::byte>(), t.pixel_stride(), out.data<std::byte>(), out.pixel_stride(), 0,
              t.shape().pixels(), t.shape().c, element);
  return out;
}

void copy_into(Device& device, const Tensor& source, const Tensor& destination) {
  const size_t element = element_bytes(source, "copy_into");
  element_bytes(destination, "copy_into");
  YOLO4_CHECK(source.shape() == destination.shape() && source.dtype() == destination.dtype(),
              "copy_into: source ", to_string(source.shape()), " ", to_string(source.dtype()),
              " and destination ", to_string(destination.shape()), " ",
              to_string(destination.dtype()), " differ");
  const int64_t pixels = source.shape().pixels();
  const int cores = int(std::min<int64_t>(device.num_cores(), pixels));
  ProfiledOp profiled(device, "copy");
  if (profiled.active()) {
    profiled.record.input = profiled.record.output = source.shape();
    profiled.record.dtype = source.dtype();
    profiled.record.cores = cores;
    profiled.record.bytes = 2.0 * element * double(source.shape().elements());
  }
  device.pool().run(cores, [&](int core) {
    // A slice destination keeps its neighbours' channels: copy exactly C per pixel.
    const int64_t begin = pixels * core / cores, end = pixels * (core + 1) / cores;
    for (int64_t p = begin; p < end; ++p) {
      std::memcpy(destination.data<std::byte>() + p * destination.pixel_stride() * element,
                  source.data<std::byte>() + p * source.pixel_stride() * element,
                  source.shape().c * element);
    }
  });
}

}  // namespace yolo4
