// The machine's roofs: each conv kernel's product loop runs every chain the steps it is asked
// (its value says so exactly), and the measured peaks and bandwidth reach the perf sheet.
#include <gtest/gtest.h>

#include <cmath>

#include "yolo4/core/cpu_features.h"
#include "yolo4/core/error.h"
#include "yolo4/kernels/kernels.h"
#include "yolo4/kernels/peak.h"
#include "yolo4/profile/profiler.h"

namespace yolo4::profile {
namespace {

constexpr int kChains = 12;

// f32_fma_loop's value: chain c from c, n steps of fma(x, 0.9999999, 1e-7), summed in order.
float fma_loop_value(int64_t n) {
  float sum = 0;
  for (int c = 0; c < kChains; ++c) {
    float x = float(c);
    for (int64_t i = 0; i < n; ++i) x = std::fma(x, 0.9999999f, 1e-7f);
    sum += x;
  }
  return sum;
}

// The VDPBF16PS loop's: every step adds 2^-9 to each chain, exactly.
float dot_loop_value(int64_t n) {
  return 66.0f + float(kChains * n) / 512;
}

std::vector<Isa> isas_here() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa_supported(isa)) isas.push_back(isa);
  }
  return isas;
}

TEST(Roofs, ProductLoopsRunEveryChain) {
  for (const Isa isa : isas_here()) {
    SCOPED_TRACE(to_string(isa));
    const kernels::KernelTable& k = kernels::kernel_table(isa);
    ASSERT_NE(k.conv_hifi4.product_loop, nullptr);
    const int lanes = isa == Isa::kAvx512 ? 16 : isa == Isa::kAvx2 ? 8 : 1;
    EXPECT_EQ(k.conv_hifi4.product_flops_per_step, 2 * kChains * lanes);
    for (const int64_t n : {0, 1, 7, 1000}) {
      EXPECT_EQ(k.conv_hifi4.product_loop(n), fma_loop_value(n)) << n << " steps";
    }
    const bool native = kernels::native_bf16_products(isa);
    if (!native) {  // widened LoFi multiplies on the same FMAs
      EXPECT_EQ(k.conv_lofi.product_loop, k.conv_hifi4.product_loop);
    }
    if (native && !kernels::amx_bf16_products(isa)) {
      ASSERT_NE(k.conv_lofi.product_loop, nullptr);
      EXPECT_EQ(k.conv_lofi.product_flops_per_step, kChains * 16 * 4);
      for (const int64_t n : {0, 1, 7, 1000}) {
        EXPECT_EQ(k.conv_lofi.product_loop(n), dot_loop_value(n)) << n << " steps";
      }
    }
  }
}

TEST(Roofs, MeasuredOnThisMachine) {
  Device device;
  const Roofs roofs = measure_roofs(device);
  EXPECT_GT(roofs.hifi4.per_core_gflops, 0);
  EXPECT_GE(roofs.hifi4.total_gflops, roofs.hifi4.per_core_gflops * 0.5);
  EXPECT_GT(roofs.dram_bytes_per_s, 0);
  EXPECT_EQ(roofs.lofi_kernel, kernels::kernel_table(device.isa()).conv_lofi.name);
  const bool own_lofi_peak =
      kernels::native_bf16_products(device.isa()) && !kernels::amx_bf16_products(device.isa());
  EXPECT_EQ(roofs.lofi.has_value(), own_lofi_peak);
  if (roofs.lofi) {
    EXPECT_GT(roofs.lofi->per_core_gflops, 0);
  }

  const PeakTable table = peak_table(roofs, device.num_cores());
  EXPECT_EQ(table.dram_bandwidth(), roofs.dram_bytes_per_s);
  EXPECT_EQ(table.per_core(DataType::BFLOAT16, "LoFi"),
            (roofs.lofi ? *roofs.lofi : roofs.hifi4).per_core_gflops * 1e9);
}

TEST(Roofs, ReadBandwidthOfAnySize) {
  Device device;
  EXPECT_GT(measure_read_bandwidth(device, 1 << 20, 1), 0);
  EXPECT_GT(measure_read_bandwidth(device, 8, 1), 0);  // less than a word per core
}

TEST(Roofs, AKernelWithoutAProductLoopSaysSo) {
  Device device;
  kernels::ConvKernel none;
  none.name = "no_loop_kernel";
  try {
    measure_product_peak(device, none);
    FAIL() << "measured a kernel without a product loop";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_loop_kernel"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace yolo4::profile
