// Winograd F(m x m, 3x3) for 3x3 convs (Lavin & Gray, 2015). Stride 1: each m x m output tile
// comes from an (m + 2) x (m + 2) input tile. F(2x2) takes 16 multiplications per (input,
// output) channel pair where the direct conv takes 36; F(4x4) 36 where it takes 144 and F(6x6)
// 64 where it takes 324, with weights 4x and 7.1x the direct conv's and larger rounding errors.
// Stride 2, by polyphase (kernels::WinogradTile): F(2x2) 25 where the direct conv takes 36, F(4x4)
// 81 where it takes 144, with 16 and 36 distinct weight matrices (1.8x and 4x the direct conv's
// weights). The transformed tile's elements give as many independent GEMMs over the channels,
// which run on the direct conv's micro-kernels; the output transform ends in their fused
// epilogue.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "yolo4/core/activation.h"
#include "yolo4/core/tensor.h"
#include "yolo4/kernels/kernels.h"
#include "yolo4/ops/conv2d_operands.h"
#include "yolo4/ops/conv2d_weights.h"

namespace yolo4::winograd {

using kernels::WinogradTile;

// U = G g G^T of every (out, in) pair of 3x3 OIHW weights: one matrix per distinct one of the
// tile's positions (kernels::winograd_weight_of), each [out][in] (the OIHW weights of a 1x1
// conv), computed in double.
std::vector<std::vector<float>> transform_weights(WinogradTile tile,
                                                  std::span<const float> weight_oihw,
                                                  int out_channels, int in_channels);

// m x m output tiles of an output shape: N * ceil(H / m) * ceil(W / m).
int64_t tile_count(WinogradTile tile, const Shape& out);

// One run, validated by Conv2d: everything the cores share.
struct Run {
  const Tensor* input = nullptr;
  const Tensor* output = nullptr;
  const Tensor* residual = nullptr;
  WinogradTile tile = WinogradTile::kF2x2;
  int padding = 1;
  const kernels::ConvKernel* kernel = nullptr;
  // The 1x1 GEMMs' weights: one per distinct matrix (kernels::winograd_weight_of)
  std::span<const PackedConvWeights> weights;
  const float* bias = nullptr;  // [panel][NR]
  Activation activation = Activation::kNone;
  int kblocks = 0;      // reduction blocks over the input channels
  int block_tiles = 0;  // MR-rows of transformed tiles packed at once, at most
  // MR-rows of a block whose GEMMs meet each weight panel in turn (their sums, every position's,
  // kept until the output transform)
  int group_tiles = 1;
  int out_columns = 0;  // output channels written (with a TILE output's zero padding)
};

// The calling core's next work (a block of at most Run::block_tiles MR-rows of transformed tiles
// and panels of it), none once its work is done.
using NextWork = std::function<std::optional<conv_operands::WorkRange>()>;

// The calling core's work, as next_work gives it. `own`: the core's share (whose panels' weights
// it may widen or decode once); work outside it comes after all of the share's.
void run_share(const Run& run, const conv_operands::WorkRange& own, const NextWork& next_work);

}  // namespace yolo4::winograd
