#include "yolo4/core/cpu_features.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace yolo4 {
namespace {

// The vendor read from cpuid 0 is the one Linux reports (the layer tables pick rows by it).
TEST(CpuFeatures, VendorIsTheOneTheKernelReports) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  if (!cpuinfo) GTEST_SKIP() << "no /proc/cpuinfo";
  std::string line, vendor_id;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("vendor_id", 0) == 0) {
      vendor_id = line.substr(line.find(':') + 2);
      break;
    }
  }
  const CpuVendor expected = vendor_id == "GenuineIntel"   ? CpuVendor::kIntel
                             : vendor_id == "AuthenticAMD" ? CpuVendor::kAmd
                                                           : CpuVendor::kOther;
  EXPECT_EQ(cpu_features().vendor, expected)
      << "cpuid says " << to_string(cpu_features().vendor) << ", /proc/cpuinfo " << vendor_id;
}

// The core design follows the family Linux reports (the layer tables pick rows by it).
TEST(CpuFeatures, CoreIsTheOneTheFamilyNames) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  if (!cpuinfo) GTEST_SKIP() << "no /proc/cpuinfo";
  std::string line;
  unsigned family = 0;
  bool avx512f = false;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("cpu family", 0) == 0) family = std::stoul(line.substr(line.find(':') + 2));
    if (line.rfind("flags", 0) == 0) {
      avx512f = (line + ' ').find(" avx512f ") != std::string::npos;
      break;
    }
  }
  const CpuFeatures& f = cpu_features();
  EXPECT_EQ(f.core, core_of(f.vendor, family, avx512f))
      << "cpuid says " << to_string(f.core) << ", /proc/cpuinfo family " << family
      << (avx512f ? " with" : " without") << " avx512f";
}

TEST(CpuFeatures, CoreOfVendorAndFamily) {
  EXPECT_EQ(core_of(CpuVendor::kAmd, 25, true), CpuCore::kAmdZen4);
  EXPECT_EQ(core_of(CpuVendor::kAmd, 25, false), CpuCore::kOther) << "Zen 3";
  EXPECT_EQ(core_of(CpuVendor::kAmd, 26, true), CpuCore::kAmdZen5);
  EXPECT_EQ(core_of(CpuVendor::kAmd, 26, false), CpuCore::kAmdZen5) << "AVX-512 disabled by the OS";
  EXPECT_EQ(core_of(CpuVendor::kAmd, 23, false), CpuCore::kOther) << "Zen 2";
  EXPECT_EQ(core_of(CpuVendor::kIntel, 6, true), CpuCore::kOther);
}

}  // namespace
}  // namespace yolo4
