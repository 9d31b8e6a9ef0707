#include "yolo4/model/options.h"

#include <optional>

#include "yolo4/core/cpu_features.h"
#include "yolo4/core/error.h"
#include "yolo4/kernels/kernels.h"

namespace yolo4 {

namespace {

// What `auto` picks: the fastest preset measured on each kind of CPU among those keeping PCC >=
// 0.99 on every head against fp32 (the model tests check every preset, and auto). Rows are tried
// in order; the first whose ISA matches, whose bf16 products the CPU has and whose core design (if
// the row names one) is the CPU's wins.
enum class Bf16Products { kAny, kVdpbf16ps, kAmx };

struct AutoRow {
  Isa isa;
  Bf16Products needs;
  std::optional<CpuCore> core;  // the cores it was measured on; empty: any the others leave
  AutoPreset chosen;
};

constexpr AutoRow kAutoPresets[] = {
    {Isa::kAvx512,
     Bf16Products::kAmx,
     std::nullopt,
     {"bf16", true,
      "AMX-BF16: bf16 on AMX tiles measured fastest on an Intel Xeon (0.11x OpenCV DNN's time, 3 "
      "alternated rounds; fast 0.12x, report 0.13x, fp32 0.28x; docs/perf.md 2026-12-04), PCC >= "
      "0.9997 against fp32; its mish approximated, since the approximation's error (8e-5 "
      "relative) is 1/48 of bfloat16's rounding step"}},
    {Isa::kAvx512,
     Bf16Products::kVdpbf16ps,
     CpuCore::kAmdZen4,
     {"bf16", false,
      "AVX512_BF16 on AMD Zen 4: bf16 measured fastest (0.54x fp32's time at 320 and 640, medians "
      "of 2 alternated rounds; fast 0.70x, report 1.01x; docs/perf.md 2026-12-07 08:20 UTC), PCC "
      ">= 0.9997 against fp32; its mish exact, since the approximate one measured level here "
      "(0.998x, sums of per-op minima over 3 alternated profiles)"}},
    {Isa::kAvx512,
     Bf16Products::kVdpbf16ps,
     std::nullopt,
     {"bf16", true,
      "AVX512_BF16: bf16 measured fastest on AMD Zen 5 (0.12x OpenCV DNN's time, median of 5 "
      "runs; fast 0.16x, report 0.20x, fp32 0.22x; docs/perf.md 2026-12-02 21:20-22:25 UTC), PCC "
      ">= 0.9997 against fp32; its mish approximated (0.93-0.95x the time), since the "
      "approximation's error (8e-5 relative) is 1/48 of bfloat16's rounding step"}},
    {Isa::kAvx512,
     Bf16Products::kAny,
     std::nullopt,
     {"bf16", false,
      "AVX-512 without AVX512_BF16 (measured on an Intel Xeon with YOLO4_CPU_DISABLE=avx512_bf16): "
      "bf16 0.88x fp32's time (medians of 5 alternated rounds; fast 0.91x, docs/perf.md "
      "2026-12-04 23:30 UTC), PCC >= 0.9997 against fp32; the approximate mish measured level"}},
    {Isa::kAvx2,
     Bf16Products::kAny,
     std::nullopt,
     {"bf16", true,
      "AVX2: bf16 measured fastest with the AVX2 kernels on an Intel Xeon, 0.90x fp32's time "
      "(127.5 ms against 141.9 with the approximate mish, medians of 5 alternated rounds; fast "
      "0.97x; docs/perf.md 2026-12-04 23:30 UTC): bfloat16 halves the weights the 10x10 and 20x20 "
      "maps' convs stream; PCC >= 0.9997 against fp32. Its mish approximated: its 8e-5 relative "
      "error is 1/48 of bfloat16's rounding step"}},
    {Isa::kScalar,
     Bf16Products::kAny,
     std::nullopt,
     {"fp32", false, "portable kernels: reduced precision only adds conversions"}},
};

}  // namespace

AutoPreset auto_preset(Isa isa) {
  const auto has = [isa](Bf16Products products) {
    switch (products) {
      case Bf16Products::kAny:
        return true;
      case Bf16Products::kVdpbf16ps:
        return kernels::native_bf16_products(isa);
      case Bf16Products::kAmx:
        return kernels::amx_bf16_products(isa);
    }
    return false;
  };
  for (const AutoRow& row : kAutoPresets) {
    if (row.isa == isa && has(row.needs) && runs_on_this_core(row.core)) {
      return row.chosen;
    }
  }
  fail("no auto preset for ISA ", to_string(isa));
}

std::string AutoPreset::name() const {
  return detail::concat(preset, approx_mish ? " with the approximate mish" : "");
}

ModelOptions ModelOptions::preset(std::string_view name, Isa isa) {
  if (name == "auto") {
    const AutoPreset chosen = auto_preset(isa);
    ModelOptions o = preset(chosen.preset, isa);
    o.math_approx_mode = chosen.approx_mish;
    return o;
  }
  ModelOptions o;
  o.isa = isa;
  if (name == "fp32") return o;
  YOLO4_CHECK(name == "bf16" || name == "report" || name == "fast", "unknown preset '", name,
              "': expected auto, fp32, bf16, report or fast");
  o.dtype = DataType::BFLOAT16;
  o.weights_dtype = name == "bf16" ? DataType::BFLOAT16 : DataType::BFLOAT8_B;
  o.math_fidelity = MathFidelity::LoFi;
  o.winograd = name != "report";
  return o;
}

std::string ModelOptions::describe() const {
  return detail::concat(to_string(dtype), "/", to_string(weights_dtype),
                        compact_weights ? " blocks/" : "/", to_string(math_fidelity),
                        math_approx_mode ? "/approx" : "", winograd ? "/winograd" : "");
}

}  // namespace yolo4
