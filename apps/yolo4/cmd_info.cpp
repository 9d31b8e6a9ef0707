// yolo4 info: what yolo4 sees on this machine, for bug reports and for scripts that need to know
// (the suite's "as on a CPU without X" runs ask it whether the CPU has X at all).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "args.h"
#include "commands.h"
#include "yolo4/core/cpu_features.h"
#include "yolo4/core/device.h"
#include "yolo4/model/options.h"

namespace yolo4::cli {

int info_command(int argc, char** argv) {
  ArgParser p("yolo4 info",
              "Prints yolo4's version and what it sees on this machine: the CPU's features (less\n"
              "those YOLO4_CPU_DISABLE names), the kernels it runs, the usable CPUs and what\n"
              "--preset auto stands for here.");
  if (!p.parse(argc, argv)) return 0;
  const CpuFeatures& cpu = cpu_features();
  const char* disabled = std::getenv("YOLO4_CPU_DISABLE");
  std::string isas;
  for (Isa isa : supported_isas()) {
    if (!isas.empty()) isas += ' ';
    isas += to_string(isa);
  }
  const AutoPreset chosen = auto_preset(best_isa());
  std::printf("yolo4 %s\n", YOLO4_VERSION);
  const std::string core =
      cpu.core == CpuCore::kOther ? "" : " (" + std::string(to_string(cpu.core)) + ")";
  std::printf("cpu: %s%s, %d usable CPUs\n", std::string(to_string(cpu.vendor)).c_str(),
              core.c_str(), usable_cpu_count());
  const std::string features = feature_names(cpu);
  const std::string disabled_note =
      disabled ? std::string("  (less YOLO4_CPU_DISABLE=") + disabled + ")" : "";
  std::printf("features: %s%s\n", features.empty() ? "none" : features.c_str(),
              disabled_note.c_str());
  std::printf("kernels: %s (this CPU runs: %s)\n", std::string(to_string(best_isa())).c_str(),
              isas.c_str());
  std::printf("--preset auto: %s (%.*s)\n", chosen.name().c_str(), int(chosen.why.size()),
              chosen.why.data());
  return 0;
}

}  // namespace yolo4::cli
