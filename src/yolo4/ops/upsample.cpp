#include "yolo4/ops/upsample.h"

#include <algorithm>
#include <cstring>

#include "yolo4/core/error.h"

namespace yolo4 {

namespace {

void validate(const Tensor& input, int scale) {
  YOLO4_CHECK(input.is_allocated(), "upsample_nearest: input is not allocated (deallocated?)");
  YOLO4_CHECK(input.dtype() == DataType::FLOAT32 || input.dtype() == DataType::BFLOAT16,
              "upsample_nearest: input dtype ", to_string(input.dtype()),
              ", expected float32 or bfloat16");
  YOLO4_CHECK(scale >= 1, "upsample_nearest: scale ", scale, ", expected an integer >= 1");
}

Shape output_shape(const Shape& in, int scale) {
  return Shape{in.n, scale * in.h, scale * in.w, in.c};
}

void validate_output(const Tensor& input, const Tensor& output, int scale) {
  YOLO4_CHECK(output.is_allocated(), "upsample_nearest: output is not allocated (deallocated?)");
  const Shape expected = output_shape(input.shape(), scale);
  YOLO4_CHECK(output.shape() == expected && output.dtype() == input.dtype(),
              "upsample_nearest: output ", to_string(output.shape()), " ",
              to_string(output.dtype()), ", expected ", to_string(expected), " ",
              to_string(input.dtype()), " (the input upsampled by ", scale, ")");
}

// Pixels back to back at their stride with zeros (or nothing) between C and the stride.
bool dense(const Tensor& t) {
  return t.layout() == Layout::TILE || t.shape().c == t.pixel_stride();
}

// Writes one output row from its input row: each input pixel `scale` times. `run` elements are
// copied per pixel (the padded stride when input and output share it, the input's padding being
// zero) and the output's elements up to `extent` zeroed (a TILE output's padding; none for a
// slice). Strides and counts are in elements of `element` bytes.
void upsample_row(const std::byte* in_row, int64_t in_stride, std::byte* out_row,
                  int64_t out_stride, int out_w, int scale, int64_t run, int64_t extent,
                  size_t element) {
  for (int x = 0; x < out_w; ++x) {
    std::byte* out = out_row + x * out_stride * element;
    std::memcpy(out, in_row + (x / scale) * in_stride * element, size_t(run) * element);
    if (extent > run) std::memset(out + run * element, 0, size_t(extent - run) * element);
  }
}

}  // namespace

void upsample_nearest(Device& device, const Tensor& input, const Tensor& output, int scale) {
  validate(input, scale);
  validate_output(input, output, scale);
  const Shape& in = input.shape();
  const size_t element = traits(input.dtype()).block_bytes;
  const int64_t stride = output.pixel_stride(), in_stride = input.pixel_stride();
  const bool out_dense = dense(output);
  const int64_t run = in_stride == stride && dense(input) && out_dense ? stride : in.c;
  const int64_t extent = output.layout() == Layout::TILE ? stride : in.c;
  const int out_h = scale * in.h, out_w = scale * in.w;
  const size_t out_row_bytes = size_t(out_w) * stride * element;
  const std::byte* src = input.data<std::byte>();
  std::byte* dst = output.data<std::byte>();

  // HEIGHT sharding: core c writes the c-th contiguous range of the N*scale*H output rows.
  const int64_t rows = int64_t(in.n) * out_h;
  const int cores = int(std::min<int64_t>(device.num_cores(), rows));
  ProfiledOp profiled(device, "upsample_nearest");
  if (profiled.active()) {
    OpRecord& r = profiled.record;
    r.input = in;
    r.output = output.shape();
    r.dtype = input.dtype();
    r.cores = cores;
    r.flops = 0;
    r.bytes = double(element) * double(in.elements() + output.shape().elements());
  }
  device.pool().run(cores, [&](int core) {
    const int64_t begin = rows * core / cores, end = rows * (core + 1) / cores;
    for (int64_t r = begin; r < end; ++r) {
      std::byte* out_row = dst + r * out_row_bytes;
      // A row past the first of its input row's repeats equals the row above it; when this
      // core wrote that row, copy it whole (only for a dense output: a slice's rows interleave
      // with its neighbours' channels).
      if (out_dense && r % scale != 0 && r > begin) {
        std::memcpy(out_row, out_row - out_row_bytes, out_row_bytes);
        continue;
      }
      const int64_t in_row = r / out_h * in.h + r % out_h / scale;
      upsample_row(src + in_row * in.w * in_stride * element, in_stride, out_row, stride, out_w,
                   scale, run, extent, element);
    }
  });
}

Tensor upsample_nearest(Device& device, const Tensor& input, int scale) {
  validate(input, scale);
  TensorSpec spec;
  spec.shape = output_shape(input.shape(), scale);
  spec.dtype = input.dtype();
  spec.memory_config.memory_layout = TensorMemoryLayout::HEIGHT_SHARDED;
  Tensor output = device.allocate(spec);
  upsample_nearest(device, input, output, scale);
  return output;
}

}  // namespace yolo4
