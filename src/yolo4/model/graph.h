// The network as a graph built from a NetworkSpec on the op library: convs with BatchNorm folded
// and activations fused, shortcuts fused into the conv before them, routes as zero-copy concats
// and channel-slice views, and tensors freed after their last reader, so that the session's
// captured arena plan covers any cfg.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "yolo4/core/device.h"
#include "yolo4/model/network_spec.h"
#include "yolo4/model/options.h"
#include "yolo4/model/weights.h"
#include "yolo4/ops/conv2d.h"

namespace yolo4 {

class Graph {
 public:
  // `convs`: one entry per [convolutional] layer, in cfg order.
  Graph(NetworkSpec spec, std::vector<ConvParameters> convs, const ModelOptions& options = {});
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // input: (N, H, W, C) float32, H and W multiples of the network's stride. Returns the inputs
  // of the [yolo] layers in cfg order (the raw heads).
  std::vector<Tensor> operator()(Device& device, const Tensor& input) const;

  const NetworkSpec& spec() const { return spec_; }
  const ModelOptions& options() const { return options_; }
  // The kernels the weights are packed for (options().isa): create the Devices that run this
  // network with it; operator() refuses a device with another.
  Isa isa() const { return options_.isa; }
  void validate_input(const Shape& input) const;
  int stride() const;                      // the largest downsampling factor
  double flops(const Shape& input) const;  // all convs, direct convolution
  size_t weight_bytes() const;             // resident packed weights
  // Every conv's shapes and strategy for an input shape on `cores` cores (bench --explain).
  struct ConvPlan {
    std::string name;
    Shape input, output;
    ConvStrategy strategy;
    std::string kernel;
    std::string winograd_reason;  // the layer table's row behind its tile ("" if not a 3x3)
  };
  std::vector<ConvPlan> explain(const Shape& input, int cores) const;

  struct Plan;  // the packed ops and the steps that run them (graph.cpp)

 private:
  NetworkSpec spec_;
  ModelOptions options_;
  std::unique_ptr<Plan> plan_;
};

}  // namespace yolo4
