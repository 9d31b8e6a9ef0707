// Winograd F(2x2, 3x3) for stride-1 3x3 convs (Lavin & Gray, 2015): each 2x2 output tile comes
// from a 4x4 input tile with 16 multiplications per (input, output) channel pair instead of 36.
// The 16 elements of a transformed tile give 16 independent GEMMs over the channels, which run
// on the direct conv's micro-kernels; the output transform ends in their fused epilogue.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "yolo4/core/tensor.h"
#include "yolo4/kernels/kernels.h"
#include "yolo4/core/activation.h"
#include "yolo4/ops/conv2d_weights.h"

namespace yolo4::winograd {

inline constexpr int kTile = 2;        // output tile side
inline constexpr int kPositions = 16;  // elements of a transformed 4x4 tile

// U = G g G^T of every (out, in) pair of 3x3 OIHW weights: kPositions matrices, each [out][in]
// (the OIHW weights of a 1x1 conv), computed in double.
std::vector<std::vector<float>> transform_weights(std::span<const float> weight_oihw,
                                                  int out_channels, int in_channels);

// 2x2 output tiles of an output shape: N * ceil(H / 2) * ceil(W / 2).
int64_t tile_count(const Shape& out);

// One run, validated by Conv2d: everything the cores share.
struct Run {
  const Tensor* input = nullptr;
  const Tensor* output = nullptr;
  const Tensor* residual = nullptr;
  int padding = 1;
  const kernels::ConvKernel* kernel = nullptr;
  std::span<const PackedConvWeights> weights;  // kPositions, the 1x1 GEMMs' weights
  const float* bias = nullptr;                 // [panel][NR]
  Activation activation = Activation::kNone;
  int kblocks = 0;      // reduction blocks over the input channels
  int block_tiles = 0;  // MR-rows of transformed tiles packed at once
  int out_columns = 0;  // output channels written (with a TILE output's zero padding)
};

// The calling core's share: transformed-tile rows [mr_row_begin, mr_row_end) (in units of the
// kernel's MR tiles) and weight panels [panel_begin, panel_end).
void run_share(const Run& run, int mr_row_begin, int mr_row_end, int panel_begin, int panel_end);

}  // namespace yolo4::winograd
