// What the CPU can run, read once from cpuid; kernels are chosen from this at run time.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace yolo4 {

// Kernel families, best first. kAvx512 needs AVX512F/BW/DQ/VL; bf16 products additionally
// need AVX512_BF16 (see CpuFeatures::avx512_bf16), and run on AMX tiles where it has AMX-BF16.
enum class Isa { kAvx512, kAvx2, kScalar };

// Who designed the cores.
enum class CpuVendor { kIntel, kAmd, kOther };

// The core design, where the layer tables (which Winograd tile pays for a layer) measured it
// apart from the rest: Zen 4 runs a 512-bit FMA as two 256-bit halves, so its AVX-512 fp32 peak
// is AVX2's, while Zen 5's server cores run it whole at twice that.
enum class CpuCore { kAmdZen4, kAmdZen5, kOther };

struct CpuFeatures {
  CpuVendor vendor = CpuVendor::kOther;
  CpuCore core = CpuCore::kOther;
  bool avx2_fma = false;
  bool avx512 = false;
  bool avx512_bf16 = false;
  bool avx512_vnni = false;
  // AMX-TILE + AMX-BF16 (TDPBF16PS), enabled by the OS for this process (Linux grants the tile
  // state on request); only with AVX512_BF16, as on every CPU that has it.
  bool amx_bf16 = false;
};

// This CPU's features, read once, less those $YOLO4_CPU_DISABLE names.
const CpuFeatures& cpu_features();
// The features present, by the names YOLO4_CPU_DISABLE takes (plus avx512_vnni), e.g.
// "avx2 avx512 avx512_vnni avx512_bf16"; "" for none.
std::string feature_names(const CpuFeatures& features);
bool isa_supported(Isa isa);
Isa best_isa();
std::vector<Isa> supported_isas();  // every ISA this CPU can run, best first
std::string_view to_string(Isa isa);
std::string_view to_string(CpuVendor vendor);
std::string_view to_string(CpuCore core);
// The core design of a CPU by its vendor, cpuid family (base + extended) and AVX-512 support:
// AMD family 25 with AVX-512 is Zen 4 (Zen 3 shares the family without it), 26 is Zen 5.
CpuCore core_of(CpuVendor vendor, unsigned family, bool avx512);
// Whether a table row measured on `core` (empty: on any) applies to this CPU.
bool runs_on_this_core(std::optional<CpuCore> core);
Isa parse_isa(std::string_view name);  // "avx512" | "avx2" | "scalar"

}  // namespace yolo4
