// Tensor: an NHWC activation with a data type, a layout and a memory config, as in TT-NN.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "yolo4/core/dtype.h"

namespace yolo4 {

// ROW_MAJOR is plain NHWC. TILE is the kernels' blocked NHWC: channels padded with zeros to
// a multiple of kTileChannels so that every pixel starts on a SIMD-width boundary.
enum class Layout { ROW_MAJOR, TILE };
inline constexpr int kTileChannels = 16;

// How an op spreads a tensor over the core grid (TT-NN's TensorMemoryLayout). INTERLEAVED:
// no fixed owner. HEIGHT: rows of pixels split over cores. WIDTH: channels split over cores.
// BLOCK: both.
enum class TensorMemoryLayout { INTERLEAVED, HEIGHT_SHARDED, WIDTH_SHARDED, BLOCK_SHARDED };
// ARENA: the activation arena (the L1 of this port). HEAP: ordinary allocations (its DRAM).
enum class BufferType { ARENA, HEAP };

struct MemoryConfig {
  TensorMemoryLayout memory_layout = TensorMemoryLayout::INTERLEAVED;
  BufferType buffer_type = BufferType::ARENA;
};

struct Shape {
  int n = 0, h = 0, w = 0, c = 0;
  int64_t pixels() const { return int64_t(n) * h * w; }
  int64_t elements() const { return pixels() * c; }
  bool operator==(const Shape&) const = default;
};

// The one shape formatter: dimensions joined by `separator` ("1, 320, 320, 3", "1x320x320x3").
std::string join_dims(std::span<const int64_t> dims, std::string_view separator);
std::string to_string(const Shape& shape);  // "[1, 320, 320, 3]" (NHWC)
std::string_view to_string(Layout layout);
std::string_view to_string(TensorMemoryLayout layout);
TensorMemoryLayout parse_memory_layout(std::string_view name);  // "height" | "width" | "block"

struct TensorSpec {
  Shape shape;
  DataType dtype = DataType::FLOAT32;
  Layout layout = Layout::TILE;
  MemoryConfig memory_config;

  // Elements between neighbouring pixels: C, or C rounded up to kTileChannels for TILE.
  int64_t pixel_stride() const;
  size_t bytes() const;
};

// Memory behind one or more tensors. Whoever hands it out gets it back when the last tensor
// that uses it is deallocated or destroyed.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual std::byte* data() const = 0;
  virtual size_t bytes() const = 0;
};

class Tensor {
 public:
  Tensor() = default;
  Tensor(const TensorSpec& spec, std::shared_ptr<Buffer> buffer);

  const TensorSpec& spec() const { return spec_; }
  const Shape& shape() const { return spec_.shape; }
  DataType dtype() const { return spec_.dtype; }
  Layout layout() const { return spec_.layout; }
  const MemoryConfig& memory_config() const { return spec_.memory_config; }
  int64_t pixel_stride() const { return pixel_stride_; }
  bool is_allocated() const { return buffer_ != nullptr; }

  template <class T>
  T* data() const {
    return reinterpret_cast<T*>(data_);
  }

  // A view of channels [first, first + count) sharing this tensor's memory: how producers
  // write straight into their part of a concat output.
  Tensor channel_slice(int first, int count) const;

  // Drops this handle's reference; the memory returns when no view uses it (ttnn.deallocate).
  void deallocate() { buffer_.reset(), data_ = nullptr; }

 private:
  TensorSpec spec_;
  std::shared_ptr<Buffer> buffer_;
  std::byte* data_ = nullptr;
  int64_t pixel_stride_ = 0;
};

// A host tensor that owns its memory (inputs, test data, conversions).
Tensor make_host_tensor(const TensorSpec& spec);

}  // namespace yolo4
