#include "yolo4/core/cpu_features.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "yolo4/core/error.h"

namespace yolo4 {

namespace {
uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t(edx) << 32) | eax;
}

// Linux hands a process the AMX tile state only on request (arch_prctl ARCH_REQ_XCOMP_PERM for
// XFEATURE_XTILEDATA); a tile instruction before that faults.
bool os_grants_amx_tiles(uint64_t xcr0) {
  constexpr uint64_t kXtileCfgAndData = 3ull << 17;
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtileData = 18;
  return (xcr0 & kXtileCfgAndData) == kXtileCfgAndData &&
         syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtileData) == 0;
}

// cpuid 0 spells the vendor in EBX, EDX, ECX.
CpuVendor detect_vendor() {
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return CpuVendor::kOther;
  char name[12];
  std::memcpy(name, &b, 4);
  std::memcpy(name + 4, &d, 4);
  std::memcpy(name + 8, &c, 4);
  const std::string_view vendor(name, sizeof name);
  if (vendor == "GenuineIntel") return CpuVendor::kIntel;
  if (vendor == "AuthenticAMD") return CpuVendor::kAmd;
  return CpuVendor::kOther;
}

// cpuid 1 EAX: the base family in bits 8-11, extended by bits 20-27 where the base is 15.
unsigned family_of(unsigned eax) {
  const unsigned base = (eax >> 8) & 0xf;
  return base == 0xf ? base + ((eax >> 20) & 0xff) : base;
}

CpuFeatures detect() {
  CpuFeatures f;
  f.vendor = detect_vendor();
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const unsigned family = family_of(a);
  const bool osxsave = c & bit_OSXSAVE;
  const bool fma = c & bit_FMA;
  if (!osxsave) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;
  const bool os_zmm = (xcr0 & 0xe6) == 0xe6;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2_fma = os_ymm && fma && (b & bit_AVX2);
  f.avx512 = os_zmm && f.avx2_fma && (b & bit_AVX512F) && (b & bit_AVX512BW) &&
             (b & bit_AVX512DQ) && (b & bit_AVX512VL);
  f.avx512_vnni = f.avx512 && (c & bit_AVX512VNNI);
  // cpuid 7.0 EDX: AMX-BF16 (bit 22), AMX-TILE (bit 24); clang 14's cpuid.h names neither.
  constexpr unsigned kAmxBf16 = 1u << 22, kAmxTile = 1u << 24;
  const bool amx_tile_bf16 = (d & kAmxTile) && (d & kAmxBf16);
  unsigned a1, b1, c1, d1;
  if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1))
    f.avx512_bf16 = f.avx512 && (a1 & bit_AVX512BF16);
  f.amx_bf16 = f.avx512_bf16 && amx_tile_bf16 && os_grants_amx_tiles(xcr0);
  f.core = core_of(f.vendor, family, f.avx512);
  return f;
}

// YOLO4_CPU_DISABLE="avx512,..." runs as on a CPU without those features (an AVX-512 machine's
// CI runs the suite as an AVX2-only CPU would; OpenCV reads OPENCV_CPU_DISABLE alike).
CpuFeatures without_disabled(CpuFeatures f, std::string_view list) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (name == "amx_bf16") {
      f.amx_bf16 = false;
    } else if (name == "avx512_bf16") {
      f.avx512_bf16 = f.amx_bf16 = false;
    } else if (name == "avx512") {
      f.avx512 = f.avx512_bf16 = f.avx512_vnni = f.amx_bf16 = false;
    } else if (name == "avx2") {
      f = CpuFeatures{.vendor = f.vendor, .core = f.core};
    } else if (!name.empty()) {
      fail("YOLO4_CPU_DISABLE: unknown feature '", std::string(name),
           "': expected a comma-separated list of amx_bf16, avx512_bf16, avx512, avx2");
    }
  }
  return f;
}
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = [] {
    const char* disabled = std::getenv("YOLO4_CPU_DISABLE");
    return without_disabled(detect(), disabled ? disabled : "");
  }();
  return features;
}

std::string feature_names(const CpuFeatures& f) {
  const std::pair<bool, std::string_view> named[] = {{f.avx2_fma, "avx2"},
                                                     {f.avx512, "avx512"},
                                                     {f.avx512_vnni, "avx512_vnni"},
                                                     {f.avx512_bf16, "avx512_bf16"},
                                                     {f.amx_bf16, "amx_bf16"}};
  std::string names;
  for (const auto& [present, name] : named) {
    if (!present) continue;
    if (!names.empty()) names += ' ';
    names += name;
  }
  return names;
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return cpu_features().avx512;
    case Isa::kAvx2:
      return cpu_features().avx2_fma;
    case Isa::kScalar:
      return true;
  }
  return false;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar}) {
    if (isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

Isa best_isa() {
  return supported_isas().front();
}

std::string_view to_string(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kScalar:
      return "scalar";
  }
  return "unknown";
}

std::string_view to_string(CpuVendor vendor) {
  switch (vendor) {
    case CpuVendor::kIntel:
      return "Intel";
    case CpuVendor::kAmd:
      return "AMD";
    case CpuVendor::kOther:
      return "other";
  }
  return "unknown";
}

std::string_view to_string(CpuCore core) {
  switch (core) {
    case CpuCore::kAmdZen4:
      return "Zen 4";
    case CpuCore::kAmdZen5:
      return "Zen 5";
    case CpuCore::kOther:
      return "other";
  }
  return "unknown";
}

CpuCore core_of(CpuVendor vendor, unsigned family, bool avx512) {
  if (vendor != CpuVendor::kAmd) return CpuCore::kOther;
  if (family == 25 && avx512) return CpuCore::kAmdZen4;
  if (family == 26) return CpuCore::kAmdZen5;
  return CpuCore::kOther;
}

bool runs_on_this_core(std::optional<CpuCore> core) {
  return !core || *core == cpu_features().core;
}

Isa parse_isa(std::string_view name) {
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kScalar}) {
    if (to_string(isa) == name) return isa;
  }
  fail("unknown ISA '", name, "': expected avx512, avx2 or scalar");
}

}  // namespace yolo4
