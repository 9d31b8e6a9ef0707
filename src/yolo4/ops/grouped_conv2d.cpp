#include "yolo4/ops/grouped_conv2d.h"

#include <algorithm>
#include <string>

#include "yolo4/core/error.h"
#include "yolo4/ops/conv2d_operands.h"

namespace yolo4 {

namespace {

int padded_channels(int channels) {
  return (channels + kTileChannels - 1) / kTileChannels * kTileChannels;
}

Conv2dParams checked(const Conv2dParams& p, const Conv2dConfig& c) {
  validate_conv_params(p, "grouped_conv2d");
  validate_conv_config(c, "grouped_conv2d");
  YOLO4_CHECK(p.groups >= 1 && p.in_channels % p.groups == 0 && p.out_channels % p.groups == 0,
              "grouped_conv2d: groups=", p.groups, " must divide in_channels=", p.in_channels,
              " and out_channels=", p.out_channels);
  YOLO4_CHECK(c.winograd == WinogradTile::kNone, "grouped_conv2d: winograd applies to Conv2d only");
  return p;
}

// [tap][plane][padded outputs] from O x planes x K x K, rounded as grouped_conv2d.h documents.
AlignedVector<float> pack_weights(const Conv2dParams& p, int planes, int padded,
                                  std::span<const float> weight, const Conv2dConfig& c) {
  const int taps = p.kernel * p.kernel;
  const size_t expected = size_t(p.out_channels) * planes * taps;
  YOLO4_CHECK(weight.size() == expected, "grouped_conv2d: weight has ", weight.size(),
              " values, expected ", expected, " (", p.out_channels, "x", planes, "x", p.kernel, "x",
              p.kernel, ")");
  const bool bf16 = c.weights_dtype == DataType::BFLOAT16 || c.math_fidelity == MathFidelity::LoFi;
  AlignedVector<float> packed(size_t(taps) * planes * padded, 0.0f);
  for (int tap = 0; tap < taps; ++tap) {
    for (int d = 0; d < planes; ++d) {
      float* row = packed.data() + (size_t(tap) * planes + d) * padded;
      for (int o = 0; o < p.out_channels; ++o)
        row[o] = weight[(size_t(o) * planes + d) * taps + tap];
      for (int o = 0; c.weights_dtype == DataType::BFLOAT8_B && o < padded;
           o += BlockBfp8::kValues) {
        decode_bfp8(encode_bfp8(row + o), row + o);
      }
      for (int o = 0; bf16 && o < padded; ++o) row[o] = to_float(to_bfloat16(row[o]));
    }
  }
  return packed;
}

AlignedVector<float> pack_bias(std::span<const float> bias, int out_channels, int padded) {
  YOLO4_CHECK(bias.empty() || bias.size() == size_t(out_channels), "grouped_conv2d: bias has ",
              bias.size(), " values, expected ", out_channels);
  AlignedVector<float> packed(padded, 0.0f);
  std::copy(bias.begin(), bias.end(), packed.begin());
  return packed;
}

std::string describe_kernel(bool depthwise, const Conv2dConfig& c, Isa isa) {
  return detail::concat(depthwise ? "depthwise" : "grouped", "_conv_",
                        c.math_fidelity == MathFidelity::LoFi ? "bf16emu" : "f32", "__",
                        to_string(isa));
}

// Output channels a run writes: a TILE output also gets its zero padding channels.
int output_columns(const Tensor& output) {
  return output.layout() == Layout::TILE ? int(output.pixel_stride()) : output.shape().c;
}

// Plane d of output channel o holds input channel (o / outputs_per_group) * planes + d; the
// padding output channels read zeros.
template <class Src>
void gather_pixels(const Src* in, int64_t in_stride, int64_t first, int64_t end, int planes,
                   int outputs_per_group, int out_channels, int padded, float* gathered) {
  for (int64_t pixel = first; pixel < end; ++pixel) {
    const Src* src = in + pixel * in_stride;
    float* dst = gathered + pixel * planes * padded;
    for (int d = 0; d < planes; ++d, dst += padded) {
      for (int o = 0; o < out_channels; ++o) {
        dst[o] = conv_operands::widen(src[(o / outputs_per_group) * planes + d]);
      }
      std::fill(dst + out_channels, dst + padded, 0.0f);
    }
  }
}

}  // namespace

GroupedConv2d::GroupedConv2d(const Conv2dParams& params, std::span<const float> weight,
                             std::span<const float> bias, const Conv2dConfig& config, Isa isa)
    : params_(checked(params, config)),
      config_(config),
      activation_(fused_activation(config)),
      isa_(isa),
      kernels_(&kernels::kernel_table(isa)),
      planes_(params.in_channels / params.groups),
      padded_outputs_(padded_channels(params.out_channels)),
      weights_(pack_weights(params, planes_, padded_outputs_, weight, config)),
      bias_(pack_bias(bias, params.out_channels, padded_outputs_)) {
  kernel_name_ = describe_kernel(depthwise(), config, isa);
}

Shape GroupedConv2d::output_shape(const Shape& in) const {
  const int k = params_.kernel, s = params_.stride, p = params_.padding;
  YOLO4_CHECK(in.h + 2 * p >= k && in.w + 2 * p >= k, "grouped_conv2d: input ", to_string(in),
              " is smaller than the ", k, "x", k, " kernel");
  return Shape{in.n, (in.h + 2 * p - k) / s + 1, (in.w + 2 * p - k) / s + 1, params_.out_channels};
}

double GroupedConv2d::flops(const Shape& in) const {
  const Shape out = output_shape(in);
  return 2.0 * double(out.pixels()) * out.c * planes_ * params_.kernel * params_.kernel;
}

void GroupedConv2d::validate(const Tensor& input, const Tensor& output,
                             const Tensor* residual) const {
  YOLO4_CHECK(input.is_allocated(), "grouped_conv2d: input tensor is not allocated (deallocated?)");
  YOLO4_CHECK(input.dtype() == DataType::FLOAT32 || input.dtype() == DataType::BFLOAT16,
              "grouped_conv2d: input dtype ", to_string(input.dtype()),
              ", expected float32 or bfloat16");
  YOLO4_CHECK(input.shape().c == params_.in_channels, "grouped_conv2d: input ",
              to_string(input.shape()), " has C=", input.shape().c, ", expected ",
              params_.in_channels);
  const Shape expected = output_shape(input.shape());
  YOLO4_CHECK(output.is_allocated() && output.shape() == expected, "grouped_conv2d: output ",
              to_string(output.shape()), ", expected ", to_string(expected));
  YOLO4_CHECK(output.dtype() == config_.dtype, "grouped_conv2d: output dtype ",
              to_string(output.dtype()), ", expected ", to_string(config_.dtype),
              " (the config's dtype)");
  if (residual) {
    YOLO4_CHECK(residual->is_allocated() && residual->shape() == expected &&
                    residual->dtype() == config_.dtype,
                "grouped_conv2d: residual ", to_string(residual->shape()), " ",
                to_string(residual->dtype()), ", expected ", to_string(expected), " ",
                to_string(config_.dtype));
  }
}

Tensor GroupedConv2d::operator()(Device& device, const Tensor& input,
                                 const Tensor* residual) const {
  validate_device_isa(device, isa_, "grouped_conv2d");
  TensorSpec spec;
  spec.shape = output_shape(input.shape());
  spec.dtype = config_.dtype;
  spec.memory_config.memory_layout = TensorMemoryLayout::HEIGHT_SHARDED;
  Tensor output = device.allocate(spec);
  validate(input, output, residual);
  execute(device, input, output, residual);
  return output;
}

void GroupedConv2d::run(Device& device, const Tensor& input, const Tensor& output,
                        const Tensor* residual) const {
  validate_device_isa(device, isa_, "grouped_conv2d");
  validate(input, output, residual);
  execute(device, input, output, residual);
}

void GroupedConv2d::execute(Device& device, const Tensor& input, const Tensor& output,
                            const Tensor* residual) const {
  const Shape in = input.shape(), out = output.shape();
  const int64_t rows = int64_t(out.n) * out.h;  // HEIGHT sharding: output rows split over cores
  const int cores = int(std::min<int64_t>(device.num_cores(), rows));
  ProfiledOp profiled(device, "grouped_conv2d");
  if (profiled.active()) {
    OpRecord& r = profiled.record;
    r.input = in;
    r.output = out;
    r.dtype = config_.dtype;
    r.weights_dtype = config_.weights_dtype;
    r.math_fidelity = config_.math_fidelity;
    r.shard_layout = TensorMemoryLayout::HEIGHT_SHARDED;
    r.cores = cores;
    r.flops = flops(in);
    const double element = traits(config_.dtype).block_bytes;
    r.bytes = element * double(in.elements() + out.elements() * (residual ? 2 : 1)) +
              double(weight_bytes());
  }
  const bool bf16_in = input.dtype() == DataType::BFLOAT16;
  kernels::DepthwiseRow row;
  row.in_width = in.w;
  row.in_pixel_stride = input.pixel_stride();
  row.planes = 1;
  row.in_channels = in.c;
  row.kernel = params_.kernel;
  row.stride = params_.stride;
  row.padding = params_.padding;
  row.weights = weights_.data();
  row.weight_stride = padded_outputs_;
  row.out_width = out.w;
  row.tile.bias = bias_.data();
  row.tile.out_stride = output.pixel_stride();
  row.tile.columns = output_columns(output);
  row.tile.channels = out.c;
  row.tile.activation = activation_;
  row.tile.residual_stride = residual ? residual->pixel_stride() : 0;
  const std::byte* source = input.data<std::byte>();
  size_t in_element = bf16_in ? 2 : 4;
  std::vector<float> gathered;
  if (!depthwise()) {  // general groups: every output channel's input channels as planes
    gathered.resize(size_t(in.pixels()) * planes_ * padded_outputs_);
    const int gather_cores = int(std::min<int64_t>(device.num_cores(), in.pixels()));
    device.pool().run(gather_cores, [&](int core) {
      const int64_t first = in.pixels() * core / gather_cores;
      const int64_t end = in.pixels() * (core + 1) / gather_cores;
      const int per_group = params_.out_channels / params_.groups;
      if (bf16_in) {
        gather_pixels(input.data<uint16_t>(), input.pixel_stride(), first, end, planes_, per_group,
                      out.c, padded_outputs_, gathered.data());
      } else {
        gather_pixels(input.data<float>(), input.pixel_stride(), first, end, planes_, per_group,
                      out.c, padded_outputs_, gathered.data());
      }
    });
    source = reinterpret_cast<const std::byte*>(gathered.data());
    in_element = 4;
    row.in_pixel_stride = int64_t(planes_) * padded_outputs_;
    row.plane_stride = padded_outputs_;
    row.planes = planes_;
    row.in_channels = padded_outputs_;
  }
  const kernels::DepthwiseInput kind = in_element == 2 ? kernels::kDepthwiseBf16
                                       : config_.math_fidelity == MathFidelity::LoFi
                                           ? kernels::kDepthwiseF32AsBf16
                                           : kernels::kDepthwiseF32;
  const bool bf16_out = output.dtype() == DataType::BFLOAT16;
  const kernels::DepthwiseRowFn fn = kernels_->depthwise_row[kind][bf16_out ? 1 : 0];
  const size_t out_element = bf16_out ? 2 : 4;
  device.pool().run(cores, [&](int core) {
    kernels::DepthwiseRow r = row;
    const void* in_rows[kMaxConvKernel];
    r.in_rows = in_rows;
    for (int64_t y_row = rows * core / cores; y_row < rows * (core + 1) / cores; ++y_row) {
      const int n = int(y_row / out.h), y = int(y_row % out.h);
      for (int ky = 0; ky < params_.kernel; ++ky) {
        const int iy = y * params_.stride - params_.padding + ky;
        in_rows[ky] = iy >= 0 && iy < in.h ? source + (int64_t(n) * in.h + iy) * in.w *
                                                          r.in_pixel_stride * in_element
                                           : nullptr;
      }
      const int64_t first_pixel = y_row * out.w;
      r.tile.out = output.data<std::byte>() + first_pixel * r.tile.out_stride * out_element;
      r.tile.residual = residual ? residual->data<std::byte>() +
                                       first_pixel * r.tile.residual_stride * out_element
                                 : nullptr;
      fn(r);
    }
  });
}

}  // namespace yolo4
