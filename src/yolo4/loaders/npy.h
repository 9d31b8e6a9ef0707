// NumPy .npy files of float32 ('<f4', C order): test fixtures and debugging dumps.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "yolo4/loaders/host_array.h"

namespace yolo4 {

// Reads a version 1.0 or 2.0 .npy file. Other dtypes, Fortran order, truncated data or trailing
// bytes fail with a message naming the file.
HostArray read_npy(const std::string& path);

// Writes `data` (product of `shape` floats, C order) as a version 1.0 .npy file, or 2.0 when the
// header does not fit 1.0's 16-bit length.
void write_npy(const std::string& path, const float* data, std::span<const int64_t> shape);

}  // namespace yolo4
