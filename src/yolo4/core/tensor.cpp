#include "yolo4/core/tensor.h"

#include <cstdlib>
#include <cstring>

#include "yolo4/core/error.h"

namespace yolo4 {

std::string join_dims(std::span<const int64_t> dims, std::string_view separator) {
  std::string text;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) text += separator;
    text += std::to_string(dims[i]);
  }
  return text;
}

std::string to_string(const Shape& s) {
  const int64_t dims[] = {s.n, s.h, s.w, s.c};
  return detail::concat("[", join_dims(dims, ", "), "]");
}

std::string_view to_string(Layout layout) {
  return layout == Layout::TILE ? "TILE" : "ROW_MAJOR";
}

std::string_view to_string(TensorMemoryLayout layout) {
  switch (layout) {
    case TensorMemoryLayout::INTERLEAVED: return "INTERLEAVED";
    case TensorMemoryLayout::HEIGHT_SHARDED: return "HEIGHT_SHARDED";
    case TensorMemoryLayout::WIDTH_SHARDED: return "WIDTH_SHARDED";
    case TensorMemoryLayout::BLOCK_SHARDED: return "BLOCK_SHARDED";
  }
  return "unknown";
}

TensorMemoryLayout parse_memory_layout(std::string_view name) {
  if (name == "height" || name == "HEIGHT_SHARDED") return TensorMemoryLayout::HEIGHT_SHARDED;
  if (name == "width" || name == "WIDTH_SHARDED") return TensorMemoryLayout::WIDTH_SHARDED;
  if (name == "block" || name == "BLOCK_SHARDED") return TensorMemoryLayout::BLOCK_SHARDED;
  fail("unknown shard layout '", name, "': expected height, width or block");
}

int64_t TensorSpec::pixel_stride() const {
  if (layout == Layout::ROW_MAJOR) return shape.c;
  return (int64_t(shape.c) + kTileChannels - 1) / kTileChannels * kTileChannels;
}

size_t TensorSpec::bytes() const {
  YOLO4_CHECK(dtype != DataType::BFLOAT8_B,
              "activations in bfloat8_b are not supported: it is a weights format");
  return storage_bytes(dtype, size_t(shape.pixels() * pixel_stride()));
}

Tensor::Tensor(const TensorSpec& spec, std::shared_ptr<Buffer> buffer)
    : spec_(spec), buffer_(std::move(buffer)), pixel_stride_(spec.pixel_stride()) {
  YOLO4_CHECK(spec.shape.n > 0 && spec.shape.h > 0 && spec.shape.w > 0 && spec.shape.c > 0,
              "tensor shape ", to_string(spec.shape), " must be positive in every dimension");
  YOLO4_CHECK(buffer_ && buffer_->bytes() >= spec.bytes(), "tensor of shape ",
              to_string(spec.shape), " needs ", spec.bytes(), " bytes, buffer has ",
              buffer_ ? buffer_->bytes() : 0);
  data_ = buffer_->data();
}

Tensor Tensor::channel_slice(int first, int count) const {
  YOLO4_CHECK(traits(spec_.dtype).block_values == 1, "channel slice of a ", to_string(spec_.dtype),
              " tensor: block formats cannot be sliced by channel");
  YOLO4_CHECK(first >= 0 && count > 0 && first + count <= spec_.shape.c, "channel slice [",
              first, ", ", first + count, ") outside tensor with C=", spec_.shape.c);
  Tensor view = *this;
  view.spec_.shape.c = count;
  view.spec_.layout = Layout::ROW_MAJOR;  // a slice keeps its parent's pixel stride
  view.data_ = data_ + size_t(first) * traits(spec_.dtype).block_bytes;
  return view;
}

namespace {
class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(size_t bytes) : bytes_(bytes) {
    // 64-byte alignment: one cache line, one AVX-512 vector.
    data_ = static_cast<std::byte*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    YOLO4_CHECK(data_ != nullptr, "out of memory allocating ", bytes, " bytes");
    std::memset(data_, 0, bytes);
  }
  ~HostBuffer() override { std::free(data_); }
  std::byte* data() const override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  std::byte* data_;
  size_t bytes_;
};
}  // namespace

Tensor make_host_tensor(const TensorSpec& spec) {
  return Tensor(spec, std::make_shared<HostBuffer>(spec.bytes()));
}

}  // namespace yolo4
