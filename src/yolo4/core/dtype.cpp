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

namespace {
// For each stored byte (sign, 7-bit m): the bf16 bits of m x 2^(e - 133) minus e << 7, and
// whether the shared exponent applies at all (m != 0). m = 1.f x 2^p puts the value's biased
// exponent at e + p - 6.
struct Bfp8Bf16Table {
  int16_t base[256];
  uint16_t uses_exponent[256];
  Bfp8Bf16Table() {
    for (int byte = 0; byte < 256; ++byte) {
      const unsigned m = byte & 0x7f;
      if (m == 0) {
        base[byte] = 0;
        uses_exponent[byte] = 0;
        continue;
      }
      const int p = 31 - __builtin_clz(m);
      const int fraction = int(((m - (1u << p)) << (7 - p)) & 0x7f);
      base[byte] = int16_t(((byte & 0x80) << 8) + (p - 6) * 128 + fraction);
      uses_exponent[byte] = 0xffff;
    }
  }
};
}  // namespace

void decode_bfp8_bf16(const BlockBfp8& block, uint16_t* out) {
  const int e = block.shared_exponent;
  if (e <= 6) {  // results may be denormal: the exact slow path
    float v[BlockBfp8::kValues];
    decode_bfp8(block, v);
    for (int i = 0; i < BlockBfp8::kValues; ++i) out[i] = to_bfloat16(v[i]).bits;
    return;
  }
  static const Bfp8Bf16Table table;
  const uint16_t shifted = uint16_t(e << 7);
  for (int i = 0; i < BlockBfp8::kValues; ++i) {
    const uint8_t byte = block.values[i];
    out[i] = uint16_t(table.base[byte] + (shifted & table.uses_exponent[byte]));
  }
}

size_t storage_bytes(DataType dtype, size_t count) {
  const DataTypeTraits& t = traits(dtype);
  return (count + t.block_values - 1) / t.block_values * t.block_bytes;
}

}  // namespace yolo4
