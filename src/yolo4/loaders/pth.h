// PyTorch checkpoints written by torch.save (zip format, PyTorch >= 1.6).
#pragma once

#include <string>

#include "yolo4/loaders/host_array.h"

namespace yolo4 {

// Reads the state_dict in `path` (or the one wrapped under 'state_dict' or 'model' in a training
// checkpoint) as float32 arrays: float16, bfloat16, float64 and integer storages are converted;
// storage offsets and strides are honoured. Fails with a message naming the file and tensor.
WeightMap load_pth(const std::string& path);

}  // namespace yolo4
