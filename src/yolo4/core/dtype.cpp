#include "yolo4/core/dtype.h"

#include "yolo4/core/error.h"

namespace yolo4 {

namespace {
constexpr DataTypeTraits kFloat32{"float32", 1, 4};
constexpr DataTypeTraits kBfloat16{"bfloat16", 1, 2};
constexpr DataTypeTraits kBfloat8b{"bfloat8_b", BlockBfp8::kValues, sizeof(BlockBfp8)};
}  // namespace

const DataTypeTraits& traits(DataType dtype) {
  switch (dtype) {
    case DataType::FLOAT32: return kFloat32;
    case DataType::BFLOAT16: return kBfloat16;
    case DataType::BFLOAT8_B: return kBfloat8b;
  }
  fail("unknown data type ", int(dtype));
}

std::string_view to_string(DataType dtype) { return traits(dtype).name; }

DataType parse_data_type(std::string_view name) {
  for (DataType t : {DataType::FLOAT32, DataType::BFLOAT16, DataType::BFLOAT8_B}) {
    if (traits(t).name == name) return t;
  }
  fail("unknown data type '", name, "': expected float32, bfloat16 or bfloat8_b");
}

size_t storage_bytes(DataType dtype, size_t count) {
  const DataTypeTraits& t = traits(dtype);
  return (count + t.block_values - 1) / t.block_values * t.block_bytes;
}

}  // namespace yolo4
