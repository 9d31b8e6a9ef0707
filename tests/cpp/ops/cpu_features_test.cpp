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

}  // namespace
}  // namespace yolo4
