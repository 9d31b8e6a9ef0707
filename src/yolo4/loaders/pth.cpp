#include "yolo4/loaders/pth.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <unordered_map>

#include "yolo4/core/error.h"
#include "yolo4/loaders/binary_io.h"
#include "yolo4/loaders/pickle.h"
#include "yolo4/loaders/zip_reader.h"

namespace yolo4 {
namespace {

float half_to_float(uint16_t half) {
  const uint32_t sign = uint32_t{half & 0x8000u} << 16;
  const uint32_t exponent = (half >> 10) & 0x1f;
  const uint32_t mantissa = half & 0x3ff;
  if (exponent == 0x1f) {  // inf or NaN
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

float bfloat16_to_float(uint16_t bits) {
  return std::bit_cast<float>(uint32_t{bits} << 16);
}

struct StorageType {
  size_t element_size;
  void (*convert)(const uint8_t* bytes, float* out, size_t count);
};

template <class T, float (*to_float)(T) = nullptr>
void convert(const uint8_t* bytes, float* out, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const T value = load_le<T>(bytes + i * sizeof(T));
    if constexpr (to_float == nullptr) {
      out[i] = static_cast<float>(value);
    } else {
      out[i] = to_float(value);
    }
  }
}

template <class T, float (*to_float)(T) = nullptr>
constexpr StorageType storage_of() {
  return {sizeof(T), &convert<T, to_float>};
}

// Integer storages (e.g. BatchNorm's num_batches_tracked) become float too: the model ignores
// them, and one array type keeps WeightMap simple.
const StorageType* storage_type(const std::string& name) {
  static const std::unordered_map<std::string, StorageType> types = {
      {"FloatStorage", storage_of<float>()},
      {"DoubleStorage", storage_of<double>()},
      {"HalfStorage", storage_of<uint16_t, half_to_float>()},
      {"BFloat16Storage", storage_of<uint16_t, bfloat16_to_float>()},
      {"LongStorage", storage_of<int64_t>()},
      {"IntStorage", storage_of<int32_t>()},
      {"ShortStorage", storage_of<int16_t>()},
      {"CharStorage", storage_of<int8_t>()},
      {"ByteStorage", storage_of<uint8_t>()},
      {"BoolStorage", storage_of<uint8_t>()},
  };
  const auto it = types.find(name);
  return it == types.end() ? nullptr : &it->second;
}

// YOLOv4 has 64 M parameters in all; no real checkpoint repeats one storage into more.
constexpr int64_t kMaxExpandedView = int64_t{1} << 26;

class PthReader {
 public:
  explicit PthReader(const std::string& path) : zip_(path) { prefix_ = find_prefix(); }

  WeightMap read() {
    check_byte_order();
    const std::string pickle_name = prefix_ + "data.pkl";
    const PickleRef root = unpickle_torch(zip_.read(pickle_name), path() + ": " + pickle_name);
    WeightMap weights;
    for (const auto& [key_ref, value] : state_dict(*root).items) {
      const auto* key = std::get_if<std::string>(&key_ref->value);
      YOLO4_CHECK(key, path(), ": state_dict has a key that is not a string");
      const auto* tensor = std::get_if<TorchTensor>(&value->value);
      YOLO4_CHECK(tensor, path(), ": state_dict entry '", *key, "' is not a tensor");
      weights[*key] = gather(*tensor, *key);
    }
    return weights;
  }

 private:
  const std::string& path() const { return zip_.path(); }

  // torch.save puts everything under one top-level folder (named after the file, or "archive").
  std::string find_prefix() const {
    for (const auto& entry : zip_.entries()) {
      const auto slash = entry.name.find('/');
      if (slash != std::string::npos && entry.name.substr(slash + 1) == "data.pkl") {
        return entry.name.substr(0, slash + 1);
      }
    }
    fail(path(), ": zip archive has no <archive>/data.pkl: not a torch.save checkpoint");
  }

  void check_byte_order() {
    if (zip_.find(prefix_ + "byteorder") == nullptr) return;  // older writers: little-endian
    const auto bytes = zip_.read(prefix_ + "byteorder");
    const std::string order(bytes.begin(), bytes.end());
    YOLO4_CHECK(order == "little", path(), ": storages are ", order,
                "-endian, expected little-endian");
  }

  // Training checkpoints often wrap the state_dict: {'state_dict': ..., 'epoch': ...}.
  const PickleDict& state_dict(const PickleValue& root) const {
    const auto* dict = std::get_if<PickleDict>(&root.value);
    YOLO4_CHECK(dict, path(), ": data.pkl does not hold a dict (expected a state_dict)");
    for (const char* wrapper : {"state_dict", "model"}) {
      const PickleValue* inner = dict_get(*dict, wrapper);
      if (inner && std::holds_alternative<PickleDict>(inner->value)) {
        return std::get<PickleDict>(inner->value);
      }
    }
    return *dict;
  }

  const std::vector<float>& storage(const TorchStorage& storage, const std::string& key) {
    const auto cached = storages_.find(storage.key);
    if (cached != storages_.end()) return cached->second;
    const StorageType* type = storage_type(storage.type);
    YOLO4_CHECK(type, path(), ": tensor '", key, "' has unsupported storage type torch.",
                storage.type);
    const std::string entry = prefix_ + "data/" + storage.key;
    const auto bytes = zip_.read(entry);
    // Compared by division: numel x element size may not fit 64 bits.
    YOLO4_CHECK(storage.numel >= 0 && bytes.size() % type->element_size == 0 &&
                    static_cast<uint64_t>(storage.numel) == bytes.size() / type->element_size,
                path(), ": storage ", entry, " of tensor '", key, "' has ", bytes.size(),
                " bytes, expected ", storage.numel, " x ", type->element_size, "-byte ",
                storage.type);
    std::vector<float> values(static_cast<size_t>(storage.numel));
    type->convert(bytes.data(), values.data(), values.size());
    return storages_.emplace(storage.key, std::move(values)).first->second;
  }

  // Copies a strided view of its storage into a dense C-order array.
  HostArray gather(const TorchTensor& tensor, const std::string& key) {
    const auto& size = tensor.size;
    const auto& stride = tensor.stride;
    YOLO4_CHECK(size.size() == stride.size(), path(), ": tensor '", key, "' has ", size.size(),
                " sizes but ", stride.size(), " strides");
    // The largest element offset reached bounds the whole view (strides are non-negative).
    // Sizes and strides come from the file, so every product is checked for overflow.
    YOLO4_CHECK(tensor.offset >= 0, path(), ": tensor '", key, "' has a negative storage offset");
    int64_t count = 1;
    int64_t last = tensor.offset;
    for (size_t d = 0; d < size.size(); ++d) {
      YOLO4_CHECK(size[d] >= 0 && stride[d] >= 0, path(), ": tensor '", key,
                  "' has a negative size or stride");
      int64_t reach = 0;
      const bool overflow =
          __builtin_mul_overflow(count, size[d], &count) ||
          (size[d] > 0 && (__builtin_mul_overflow(size[d] - 1, stride[d], &reach) ||
                           __builtin_add_overflow(last, reach, &last)));
      YOLO4_CHECK(!overflow, path(), ": tensor '", key, "' has sizes or strides too large for ",
                  "64-bit element offsets");
    }
    const std::vector<float>& source = storage(tensor.storage, key);
    YOLO4_CHECK(count == 0 || last < static_cast<int64_t>(source.size()), path(), ": tensor '", key,
                "' reaches element ", last, " of its storage, which has ", source.size());
    // A view may repeat elements (stride 0, e.g. from expand()); copying it densely must not
    // turn a small storage into an allocation of any size the file names.
    YOLO4_CHECK(count <= std::max<int64_t>(static_cast<int64_t>(source.size()), kMaxExpandedView),
                path(), ": tensor '", key, "' is a view of ", count, " elements over a storage of ",
                source.size(), ", more than the ", kMaxExpandedView,
                " elements an expanded view may have");

    HostArray array{size, std::vector<float>(static_cast<size_t>(count))};
    if (count > 0) copy_strided(tensor, count, source, array.data.data());
    return array;
  }

  // Walks the view with an odometer over the outer dims and a strided run over the innermost.
  // Size-1 dims never move through the storage and are dropped first, so that e.g. a 1x1 conv
  // weight [O, I, 1, 1] runs over I rather than over 1.
  static void copy_strided(const TorchTensor& tensor, int64_t count,
                           const std::vector<float>& source, float* out) {
    std::vector<int64_t> size, stride;
    for (size_t d = 0; d < tensor.size.size(); ++d) {
      if (tensor.size[d] != 1) {
        size.push_back(tensor.size[d]);
        stride.push_back(tensor.stride[d]);
      }
    }
    const int64_t inner = size.empty() ? 1 : size.back();
    const int64_t inner_stride = size.empty() ? 0 : stride.back();
    const size_t outer_dims = size.empty() ? 0 : size.size() - 1;
    std::vector<int64_t> index(outer_dims, 0);
    int64_t offset = tensor.offset;
    for (int64_t run = 0; run < count / inner; ++run) {
      for (int64_t j = 0; j < inner; ++j) {
        *out++ = source[static_cast<size_t>(offset + j * inner_stride)];
      }
      for (size_t d = outer_dims; d-- > 0;) {  // odometer step, keeping the offset in step
        offset += stride[d];
        if (++index[d] < size[d]) break;
        offset -= stride[d] * size[d];
        index[d] = 0;
      }
    }
  }

  ZipReader zip_;
  std::string prefix_;
  std::unordered_map<std::string, std::vector<float>> storages_;  // decoded, by storage key
};

}  // namespace

WeightMap load_pth(const std::string& path) {
  return PthReader(path).read();
}

}  // namespace yolo4
