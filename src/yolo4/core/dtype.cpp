#include "yolo4/core/dtype.h"

#include "yolo4/core/error.h"

#include <algorithm>
#include <cmath>

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

namespace {
int biased_exponent(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  return int((bits >> 23) & 0xff);
}

bool round_block(const float* values, int exponent, BlockBfp8& block) {
  block.shared_exponent = uint8_t(exponent);
  for (int i = 0; i < BlockBfp8::kValues; ++i) {
    const float magnitude = std::nearbyint(std::ldexp(std::fabs(values[i]), -(exponent - 133)));
    if (magnitude >= 128.0f) return false;
    block.values[i] = uint8_t((std::signbit(values[i]) && magnitude > 0 ? 0x80 : 0) | int(magnitude));
  }
  return true;
}
}  // namespace

BlockBfp8 encode_bfp8(const float* values) {
  int exponent = 0;
  for (int i = 0; i < BlockBfp8::kValues; ++i) exponent = std::max(exponent, biased_exponent(values[i]));
  BlockBfp8 block;
  if (exponent == 0) return block;  // zeros and denormals
  if (!round_block(values, exponent, block)) round_block(values, exponent + 1, block);
  return block;
}

void decode_bfp8(const BlockBfp8& block, float* out) {
  for (int i = 0; i < BlockBfp8::kValues; ++i) {
    const float magnitude = float(block.values[i] & 0x7f);
    const float value = std::ldexp(magnitude, int(block.shared_exponent) - 133);
    out[i] = (block.values[i] & 0x80) ? -value : value;
  }
}

size_t storage_bytes(DataType dtype, size_t count) {
  const DataTypeTraits& t = traits(dtype);
  return (count + t.block_values - 1) / t.block_values * t.block_bytes;
}

}  // namespace yolo4
