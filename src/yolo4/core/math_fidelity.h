// The report's MathFidelity, on a CPU: how the conv's products are computed.
#pragma once

#include <string_view>

namespace yolo4 {

// LoFi: bf16 x bf16 products accumulated in fp32 (VDPBF16PS on AVX512_BF16; elsewhere bf16
// operands widened to fp32, exact products summed in the fp32 kernel's order). HiFi4: fp32
// products. TT-NN's HiFi2/HiFi3 have no CPU counterpart.
enum class MathFidelity { LoFi, HiFi4 };

std::string_view to_string(MathFidelity fidelity);
MathFidelity parse_math_fidelity(std::string_view name);  // "lofi" | "hifi4" (any case)

}  // namespace yolo4
