// Helpers for the profiler tests: scratch files, synthetic sheets, an XML check, the CLI.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "test_env.h"
#include "yolo4/profile/profiler.h"

namespace yolo4::testing {

// A fresh directory for one test's files.
inline std::filesystem::path scratch_dir(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("yolo4_profile_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A sheet shaped like YOLOv4's: convs and copies spread over modules, varied cores.
inline std::vector<profile::OpRow> synthetic_rows(double scale = 1.0) {
  const char* modules[] = {"down1", "down2", "down3", "down4", "down5", "neek", "head"};
  std::vector<profile::OpRow> rows;
  for (int m = 0; m < 7; ++m) {
    for (int i = 0; i < 12; ++i) {
      profile::OpRow r;
      r.index = int(rows.size());
      r.path = std::string(modules[m]) + ".conv" + std::to_string(i + 1);
      r.op = i % 5 == 4 ? "copy" : "conv2d";
      r.input_shape = "1x40x40x128";
      r.output_shape = "1x40x40x128";
      r.dtype = r.weights_dtype = "float32";
      r.fidelity = "HiFi4";
      r.shard_layout = i % 3 ? "HEIGHT_SHARDED" : "BLOCK_SHARDED";
      r.cores = i % 4 ? 2 : 1;
      r.duration_ns = int64_t(scale * (3000000 + 370000 * ((i * 7 + m * 3) % 11)));
      r.flops = r.op == "conv2d" ? 2.0 * 40 * 40 * 128 * 128 * 9 : 0;
      r.bytes = 4.0 * 2 * 40 * 40 * 128;
      r.ideal_ns = profile::ideal_ns(r.flops, 2e11, 2);  // 200 GFLOP/s per core, 2 cores
      r.utilisation = profile::utilisation_percent(r.ideal_ns, double(r.duration_ns), 2, r.cores);
      r.arithmetic_intensity = r.flops / r.bytes;
      r.dram_ideal_ns = profile::dram_ideal_ns(r.bytes, 2e10);  // 20 GB/s
      r.dram_utilisation = 100 * r.dram_ideal_ns / double(r.duration_ns);
      rows.push_back(r);
    }
  }
  return rows;
}

// Parses `path` as XML with Python's minidom; skips when there is no python3.
inline bool python_available() {
  return std::filesystem::exists("/usr/bin/python3");
}

inline int parse_xml(const std::string& path) {
  const std::string command =
      "/usr/bin/python3 -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' '" +
      path + "'";
  return std::system(command.c_str());
}

// The yolo4 binary, "" when it has not been built.
inline std::string yolo4_binary() {
  const std::string path = test_env::yolo4_bin();
  return std::filesystem::exists(path) ? path : "";
}

}  // namespace yolo4::testing
