// Data types as Tenstorrent defines them, and one traits table per type (ggml style).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace yolo4 {

enum class DataType { FLOAT32, BFLOAT16, BFLOAT8_B };

// bfloat16: the top 16 bits of an IEEE float32.
struct bfloat16 {
  uint16_t bits = 0;
};
static_assert(sizeof(bfloat16) == 2);

// Round to nearest even; NaN stays a (quiet) NaN. Branch-free, so that loops of it vectorise (with
// a branch, packing the RGB stem's fp32 input as bf16 ran one value at a time).
inline bfloat16 to_bfloat16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
  const uint32_t quiet_nan = bits | 0x400000u;
  return bfloat16{uint16_t(((bits & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded) >> 16)};
}

inline float to_float(bfloat16 value) {
  uint32_t bits = uint32_t(value.bits) << 16;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

// bfloat8_b: 16 consecutive values share one 8-bit exponent; each keeps a sign bit and a
// 7-bit magnitude mantissa (no implicit leading one). Value = (-1)^s * m * 2^(e - 127 - 6).
//
// Rounding (encode_bfp8): e is the largest IEEE biased exponent in the block; each magnitude is
// scaled by 2^-(e - 133) (exact) and rounded to the nearest integer, ties to even. If one rounds
// up to 128, e is raised by one and the block is rounded again, so no mantissa is ever clamped.
// Denormal inputs and all-zero blocks encode as zero. Every bfloat8_b value is exactly
// representable in bfloat16 (at most 7 significant bits).
struct BlockBfp8 {
  static constexpr int kValues = 16;
  uint8_t shared_exponent = 0;
  uint8_t values[kValues] = {};  // bit 7: sign, bits 0..6: mantissa
};
static_assert(sizeof(BlockBfp8) == 17, "bfloat8_b block must pack 16 values in 17 bytes");

BlockBfp8 encode_bfp8(const float* values);            // 16 finite values
void decode_bfp8(const BlockBfp8& block, float* out);  // 16 values
// The same 16 values as bfloat16 bits, by integer arithmetic only (the hot path of LoFi).
void decode_bfp8_bf16(const BlockBfp8& block, uint16_t* out);

struct DataTypeTraits {
  std::string_view name;
  int block_values;  // values per storage block (1 for scalar types)
  int block_bytes;   // bytes per storage block
};

const DataTypeTraits& traits(DataType dtype);
std::string_view to_string(DataType dtype);
DataType parse_data_type(std::string_view name);  // "float32" | "bfloat16" | "bfloat8_b"

// Bytes to store `count` values (count rounded up to whole blocks).
size_t storage_bytes(DataType dtype, size_t count);

}  // namespace yolo4
