#include "yolo4/ops/layout.h"

#include <algorithm>
#include <cstring>

#include "yolo4/core/error.h"

namespace yolo4 {

namespace {
void check_float32(const Tensor& t, const char* op) {
  YOLO4_CHECK(t.is_allocated(), op, ": tensor is not allocated (deallocated?)");
  YOLO4_CHECK(t.dtype() == DataType::FLOAT32, op, ": tensor dtype ", to_string(t.dtype()),
              ", expected float32");
}

// Copies pixel rows of C values between strided layouts; padding channels end up zero.
void copy_pixels(const float* src, int64_t src_stride, float* dst, int64_t dst_stride,
                 int64_t pixels, int channels) {
  for (int64_t p = 0; p < pixels; ++p) {
    std::memcpy(dst + p * dst_stride, src + p * src_stride, size_t(channels) * 4);
    if (dst_stride > channels) std::memset(dst + p * dst_stride + channels, 0, size_t(dst_stride - channels) * 4);
  }
}
}  // namespace

Tensor from_nhwc(const float* data, const Shape& shape, Layout layout) {
  Tensor t = make_host_tensor({shape, DataType::FLOAT32, layout, {}});
  copy_pixels(data, shape.c, t.data<float>(), t.pixel_stride(), shape.pixels(), shape.c);
  return t;
}

Tensor from_nchw(const float* data, const Shape& s, Layout layout) {
  Tensor t = make_host_tensor({s, DataType::FLOAT32, layout, {}});
  float* out = t.data<float>();
  const int64_t plane = int64_t(s.h) * s.w;
  for (int n = 0; n < s.n; ++n)
    for (int c = 0; c < s.c; ++c)
      for (int64_t i = 0; i < plane; ++i)
        out[(n * plane + i) * t.pixel_stride() + c] = data[(int64_t(n) * s.c + c) * plane + i];
  return t;
}

std::vector<float> to_nhwc(const Tensor& t) {
  check_float32(t, "to_nhwc");
  std::vector<float> out(size_t(t.shape().elements()));
  copy_pixels(t.data<float>(), t.pixel_stride(), out.data(), t.shape().c, t.shape().pixels(),
              t.shape().c);
  return out;
}

std::vector<float> to_nchw(const Tensor& t) {
  check_float32(t, "to_nchw");
  const Shape& s = t.shape();
  const int64_t plane = int64_t(s.h) * s.w;
  std::vector<float> out(size_t(s.elements()));
  const float* in = t.data<float>();
  for (int n = 0; n < s.n; ++n)
    for (int64_t i = 0; i < plane; ++i)
      for (int c = 0; c < s.c; ++c)
        out[(int64_t(n) * s.c + c) * plane + i] = in[(n * plane + i) * t.pixel_stride() + c];
  return out;
}

Tensor to_layout(Device& device, const Tensor& t, Layout layout) {
  check_float32(t, "to_layout");
  TensorSpec spec = t.spec();
  spec.layout = layout;
  Tensor out = device.allocate(spec);
  copy_pixels(t.data<float>(), t.pixel_stride(), out.data<float>(), out.pixel_stride(),
              t.shape().pixels(), t.shape().c);
  return out;
}

}  // namespace yolo4

namespace yolo4 {

void copy_into(Device& device, const Tensor& source, const Tensor& destination) {
  check_float32(source, "copy_into");
  check_float32(destination, "copy_into");
  YOLO4_CHECK(source.shape() == destination.shape(), "copy_into: source ",
              to_string(source.shape()), " and destination ", to_string(destination.shape()),
              " differ");
  const int64_t pixels = source.shape().pixels();
  const int cores = int(std::min<int64_t>(device.num_cores(), pixels));
  ProfiledOp profiled(device, "copy");
  if (profiled.active()) {
    profiled.record.input = profiled.record.output = source.shape();
    profiled.record.cores = cores;
    profiled.record.bytes = 8.0 * double(source.shape().elements());
  }
  device.pool().run(cores, [&](int core) {
    const int64_t begin = pixels * core / cores, end = pixels * (core + 1) / cores;
    const int64_t ss = source.pixel_stride(), ds = destination.pixel_stride();
    for (int64_t p = begin; p < end; ++p) {
      std::memcpy(destination.data<float>() + p * ds, source.data<float>() + p * ss,
                  size_t(source.shape().c) * 4);
    }
  });
}

}  // namespace yolo4
