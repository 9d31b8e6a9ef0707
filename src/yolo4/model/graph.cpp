#include "yolo4/model/graph.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <variant>

#include "yolo4/core/error.h"
#include "yolo4/model/layer_config.h"
#include "yolo4/ops/conv2d.h"
#include "yolo4/ops/eltwise.h"
#include "yolo4/ops/grouped_conv2d.h"
#include "yolo4/ops/layout.h"
#include "yolo4/ops/pool.h"
#include "yolo4/ops/upsample.h"

namespace yolo4 {
namespace {

constexpr int kNetworkInput = -1;  // the value index of the graph's input

using ConvOp = std::variant<Conv2d, GroupedConv2d>;

// Where a step writes: a tensor of its own, or its channel slice of a concat that a later route
// owns (the report's sharded concat: no copy).
struct Target {
  int concat = -1;  // the route layer owning the buffer, or -1
  int channel_offset = 0;
};

struct Step {
  enum class Op { kConv, kAdd, kMaxPool, kUpsample, kSliceView, kConcat, kAllocateConcat };
  Op op = Op::kConv;
  int layer = 0;           // the layer whose value this step produces
  std::vector<int> reads;  // values read (after alias resolution)
  Target target;
  int conv = -1;           // index into Plan::convs
  int residual = -1;       // a fused shortcut's other operand
  std::vector<bool> copy;  // kConcat: per read, whether it must be copied in
};

Step make_step(Step::Op op, int layer, std::vector<int> reads, Target target = {}) {
  Step step;
  step.op = op;
  step.layer = layer;
  step.reads = std::move(reads);
  step.target = target;
  return step;
}

}  // namespace

struct Graph::Plan {
  std::vector<ConvOp> convs;
  std::vector<int> conv_layers;  // the layer of each conv
  std::vector<int> root;  // per layer: the layer whose value it is (dropouts, 1-input routes)
  std::vector<Step> steps;
  std::vector<int> last_read;  // per layer value: the last step reading it
  std::vector<int> heads;      // the values the [yolo] layers read

  mutable std::mutex shapes_mutex;
  mutable std::map<std::pair<int, int>, std::vector<Shape>> shapes;  // by (height, width)
};

namespace {

bool writes_into_slice(const LayerSpec& l) {
  return l.kind == LayerKind::kConvolutional || l.kind == LayerKind::kShortcut ||
         l.kind == LayerKind::kMaxPool || l.kind == LayerKind::kUpsample;
}

// Which layers read each layer's value, by layer index (before fusion).
std::vector<std::vector<int>> readers_of(const NetworkSpec& spec) {
  std::vector<std::vector<int>> readers(spec.layers.size());
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    for (int j : spec.layers[i].inputs) readers[size_t(j)].push_back(int(i));
  }
  return readers;
}

int resolve(const std::vector<int>& root, int layer) {
  return layer < 0 ? layer : root[size_t(layer)];
}

}  // namespace

Graph::Graph(NetworkSpec spec, std::vector<ConvParameters> params, const ModelOptions& options)
    : spec_(std::move(spec)), options_(options), plan_(std::make_unique<Plan>()) {
  Plan& plan = *plan_;
  const size_t n = spec_.layers.size();
  const auto readers = readers_of(spec_);
  auto input_of = [&](size_t i) {
    return spec_.layers[i].inputs.empty() ? kNetworkInput : spec_.layers[i].inputs[0];
  };

  // Aliases: dropouts and single-input full routes are their input's value.
  plan.root.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const LayerSpec& l = spec_.layers[i];
    const bool alias = l.kind == LayerKind::kDropout ||
                       (l.kind == LayerKind::kRoute && l.inputs.size() == 1 && l.route_groups == 1);
    plan.root[i] = alias ? resolve(plan.root, input_of(i)) : int(i);
  }
  auto root_of = [&](int layer) { return resolve(plan.root, layer); };
  // Readers of a value, through aliases.
  std::vector<std::vector<int>> value_readers(n);
  for (size_t i = 0; i < n; ++i) {
    if (plan.root[i] != int(i)) continue;
    std::vector<int> pending = readers[i];
    while (!pending.empty()) {
      const int r = pending.back();
      pending.pop_back();
      if (plan.root[size_t(r)] == int(i)) {
        pending.insert(pending.end(), readers[size_t(r)].begin(), readers[size_t(r)].end());
      } else {
        value_readers[i].push_back(r);
      }
    }
  }

  // Convs, with the shortcut that alone reads them fused in (out = act(conv) + from).
  YOLO4_CHECK(params.size() == size_t(std::count_if(spec_.layers.begin(), spec_.layers.end(),
                                                    [](const LayerSpec& l) {
                                                      return l.kind == LayerKind::kConvolutional;
                                                    })),
              spec_.path, ": ", params.size(), " sets of conv parameters for this network");
  std::vector<int> fused_into(n, -1);  // conv layer -> the shortcut layer it produces
  for (size_t i = 0; i < n; ++i) {
    const LayerSpec& l = spec_.layers[i];
    if (l.kind != LayerKind::kShortcut || l.shortcut_activation != Activation::kNone) continue;
    const int conv = root_of(l.inputs[0]);
    if (conv < 0 || spec_.layers[size_t(conv)].kind != LayerKind::kConvolutional) continue;
    if (value_readers[size_t(conv)].size() != 1 || root_of(l.inputs[1]) == conv) continue;
    fused_into[size_t(conv)] = int(i);
  }
  std::vector<bool> fused_shortcut(n, false);
  std::vector<int> writer(n);  // the layer whose step writes each value
  for (size_t i = 0; i < n; ++i) writer[i] = int(i);
  for (size_t i = 0; i < n; ++i) {
    if (fused_into[i] >= 0) {
      fused_shortcut[size_t(fused_into[i])] = true;
      writer[size_t(fused_into[i])] = int(i);
    }
  }

  // Zero-copy concats: each producer writes into the first multi-input route that reads it.
  std::vector<Target> target(n);
  std::vector<int> first_producer(n, int(n));  // per route: the earliest producer writing into it
  for (size_t r = 0; r < n; ++r) {
    const LayerSpec& l = spec_.layers[r];
    if (l.kind != LayerKind::kRoute || l.inputs.size() < 2 || l.route_groups != 1) continue;
    int offset = 0;
    std::vector<int> seen;
    for (int in : l.inputs) {
      const int v = root_of(in);
      const int channels = spec_.layers[size_t(in)].output.c;
      // The layer that will actually write v: a fused conv writes its shortcut's value.
      const bool producer_ok = v >= 0 && target[size_t(v)].concat < 0 &&
                               writes_into_slice(spec_.layers[size_t(v)]) &&
                               std::find(seen.begin(), seen.end(), v) == seen.end();
      if (producer_ok) {
        target[size_t(v)] = {int(r), offset};
        first_producer[r] = std::min(first_producer[r], writer[size_t(v)]);
      }
      seen.push_back(v);
      offset += channels;
    }
  }

  // Layer configs: a conv feeding only [yolo] layers keeps float32 outputs for decoding.
  auto feeds_only_yolo = [&](int layer) {
    const auto& rs = value_readers[size_t(layer)];
    return !rs.empty() && std::all_of(rs.begin(), rs.end(), [&](int r) {
      return spec_.layers[size_t(r)].kind == LayerKind::kYolo;
    });
  };

  // The steps in execution order.
  size_t next_param = 0;
  for (size_t i = 0; i < n; ++i) {
    const LayerSpec& l = spec_.layers[i];
    for (size_t r = 0; r < n; ++r) {
      if (first_producer[r] == int(i))
        plan.steps.push_back(make_step(Step::Op::kAllocateConcat, int(r), {}));
    }
    const int in = root_of(input_of(i));
    switch (l.kind) {
      case LayerKind::kConvolutional: {
        const Shape& in_shape = i == 0 ? Shape{1, spec_.height, spec_.width, spec_.channels}
                                       : spec_.layers[size_t(input_of(i))].output;
        const ConvLayerSpec& c = l.conv;
        const ConvLayerShape shape{in_shape.c,
                                   c.filters,
                                   c.size,
                                   c.stride,
                                   c.groups,
                                   c.activation,
                                   feeds_only_yolo(int(i))};
        const Conv2dConfig config = conv_config(shape, options_);
        const Conv2dParams p{in_shape.c, c.filters, c.size, c.stride, c.padding, c.groups};
        ConvParameters& w = params[next_param++];
        YOLO4_CHECK(int64_t(w.weight.size()) ==
                            int64_t(c.filters) * in_shape.c / c.groups * c.size * c.size &&
                        int(w.bias.size()) == c.filters,
                    spec_.path, ":", l.line, ": conv parameters do not match the layer");
        if (c.groups == 1) {
          plan.convs.emplace_back(std::in_place_type<Conv2d>, p, w.weight, w.bias, config,
                                  options_.isa);
        } else {
          plan.convs.emplace_back(std::in_place_type<GroupedConv2d>, p, w.weight, w.bias, config,
                                  options_.isa);
        }
        w = {};  // packed now; release the floats
        plan.conv_layers.push_back(int(i));
        const int out = fused_into[i] >= 0 ? fused_into[i] : int(i);
        const int residual = fused_into[i] >= 0 ? root_of(spec_.layers[size_t(out)].inputs[1]) : -1;
        Step step = make_step(Step::Op::kConv, out, {in}, target[size_t(out)]);
        step.conv = int(plan.convs.size() - 1);
        step.residual = residual;
        if (residual != -1) step.reads.push_back(residual);
        plan.steps.push_back(step);
        break;
      }
      case LayerKind::kShortcut:
        if (!fused_shortcut[i]) {
          plan.steps.push_back(
              make_step(Step::Op::kAdd, int(i), {in, root_of(l.inputs[1])}, target[i]));
        }
        break;
      case LayerKind::kMaxPool:
        plan.steps.push_back(make_step(Step::Op::kMaxPool, int(i), {in}, target[i]));
        break;
      case LayerKind::kUpsample:
        plan.steps.push_back(make_step(Step::Op::kUpsample, int(i), {in}, target[i]));
        break;
      case LayerKind::kRoute:
        if (plan.root[i] != int(i)) break;  // an alias
        if (l.inputs.size() == 1) {
          plan.steps.push_back(make_step(Step::Op::kSliceView, int(i), {in}));
        } else {
          Step step = make_step(Step::Op::kConcat, int(i), {});
          int offset = 0;
          for (int j : l.inputs) {
            const int v = root_of(j);
            step.reads.push_back(v);
            step.copy.push_back(!(v >= 0 && target[size_t(v)].concat == int(i) &&
                                  target[size_t(v)].channel_offset == offset));
            offset += spec_.layers[size_t(j)].output.c / l.route_groups;
          }
          plan.steps.push_back(step);
        }
        break;
      case LayerKind::kYolo:
        plan.heads.push_back(in);
        break;
      case LayerKind::kDropout:
        break;
    }
  }

  // Lifetimes: a value is dropped after the last step that reads it; heads live to the end.
  plan.last_read.assign(n, -1);
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    for (int v : plan.steps[s].reads) {
      if (v >= 0) plan.last_read[size_t(v)] = int(s);
    }
    const int written = plan.steps[s].layer;
    plan.last_read[size_t(written)] = std::max(plan.last_read[size_t(written)], int(s));
  }
  for (int h : plan.heads) {
    if (h >= 0) plan.last_read[size_t(h)] = int(plan.steps.size());
  }
}

Graph::~Graph() = default;

int Graph::stride() const {
  int stride = 1;
  for (const LayerSpec& l : spec_.layers) {
    stride = std::max({stride, spec_.height / l.output.h, spec_.width / l.output.w});
  }
  return stride;
}

void Graph::validate_input(const Shape& s) const {
  const int k = stride();
  YOLO4_CHECK(s.n >= 1 && s.c == spec_.channels, spec_.path, ": network input ", to_string(s),
              ": expected N x H x W x ", spec_.channels);
  YOLO4_CHECK(s.h >= k && s.w >= k && s.h % k == 0 && s.w % k == 0 && s.h <= kMaxNetworkSide &&
                  s.w <= kMaxNetworkSide,
              spec_.path, ": network input ", to_string(s), ": H and W must be multiples of ", k,
              " up to ", kMaxNetworkSide);
}

namespace {

// The per-layer output shapes for an input shape, computed once per size.
const std::vector<Shape>& layer_shapes(const NetworkSpec& spec, std::mutex& mutex,
                                       std::map<std::pair<int, int>, std::vector<Shape>>& cache,
                                       const Shape& input) {
  std::lock_guard lock(mutex);
  auto it = cache.find({input.h, input.w});
  if (it == cache.end()) {
    const NetworkSpec resized = spec.resized(input.w, input.h);
    std::vector<Shape> shapes;
    for (const LayerSpec& l : resized.layers) shapes.push_back(l.output);
    it = cache.emplace(std::pair{input.h, input.w}, std::move(shapes)).first;
  }
  return it->second;
}

}  // namespace

std::vector<Tensor> Graph::operator()(Device& device, const Tensor& input) const {
  validate_input(input.shape());
  const Plan& plan = *plan_;
  const std::vector<Shape>& shapes =
      layer_shapes(spec_, plan.shapes_mutex, plan.shapes, input.shape());
  std::vector<Tensor> values(spec_.layers.size());
  auto value = [&](int v) -> const Tensor& {
    return v == kNetworkInput ? input : values[size_t(v)];
  };
  auto shape_of = [&](int layer) {
    Shape s = shapes[size_t(layer)];
    s.n = input.shape().n;
    return s;
  };
  // The tensor a step writes: its slice of a concat, or a new one.
  auto output_for = [&](const Step& step, DataType dtype) {
    const Shape s = shape_of(step.layer);
    if (step.target.concat >= 0) {
      return values[size_t(step.target.concat)].channel_slice(step.target.channel_offset, s.c);
    }
    TensorSpec spec;
    spec.shape = s;
    spec.dtype = dtype;
    return device.allocate(spec);
  };
  const DataType activations = options_.dtype;

  for (size_t si = 0; si < plan.steps.size(); ++si) {
    const Step& step = plan.steps[si];
    const LayerSpec& layer = spec_.layers[size_t(step.layer)];
    OpScope scope(device, layer.name);
    Tensor& out = values[size_t(step.layer)];
    switch (step.op) {
      case Step::Op::kAllocateConcat: {
        TensorSpec spec;
        spec.shape = shape_of(step.layer);
        spec.dtype = activations;
        out = device.allocate(spec);
        break;
      }
      case Step::Op::kConv:
        std::visit(
            [&](const auto& conv) {
              out = output_for(step, conv.config().dtype);
              conv.run(device, value(step.reads[0]), out,
                       step.residual == -1 ? nullptr : &value(step.residual));
            },
            plan.convs[size_t(step.conv)]);
        break;
      case Step::Op::kAdd:
        out = output_for(step, value(step.reads[0]).dtype());
        add(device, value(step.reads[0]), value(step.reads[1]), out, layer.shortcut_activation);
        break;
      case Step::Op::kMaxPool:
        out = output_for(step, value(step.reads[0]).dtype());
        max_pool2d(device, value(step.reads[0]), out,
                   MaxPool2dParams{layer.pool_size, layer.pool_stride, layer.pool_padding});
        break;
      case Step::Op::kUpsample:
        out = output_for(step, value(step.reads[0]).dtype());
        upsample_nearest(device, value(step.reads[0]), out, layer.upsample_stride);
        break;
      case Step::Op::kSliceView: {
        const Tensor& in = value(step.reads[0]);
        const int part = in.shape().c / layer.route_groups;
        out = in.channel_slice(part * layer.route_group_id, part);
        break;
      }
      case Step::Op::kConcat: {
        if (!out.is_allocated()) {
          TensorSpec spec;
          spec.shape = shape_of(step.layer);
          spec.dtype = activations;
          out = device.allocate(spec);
        }
        int offset = 0;
        for (size_t k = 0; k < step.reads.size(); ++k) {
          const Tensor& in = value(step.reads[k]);
          const int part = in.shape().c / layer.route_groups;
          if (step.copy[k]) {
            copy_into(device, in.channel_slice(part * layer.route_group_id, part),
                      out.channel_slice(offset, part));
          }
          offset += part;
        }
        break;
      }
    }
    for (int v : step.reads) {
      if (v >= 0 && plan.last_read[size_t(v)] == int(si)) values[size_t(v)].deallocate();
    }
    if (plan.last_read[size_t(step.layer)] == int(si)) out.deallocate();
  }
  std::vector<Tensor> heads;
  for (int h : plan.heads) heads.push_back(value(h));
  return heads;
}

double Graph::flops(const Shape& input) const {
  validate_input(input);
  const NetworkSpec resized = spec_.resized(input.w, input.h);
  double total = 0;
  for (size_t i = 0; i < resized.layers.size(); ++i) {
    const LayerSpec& l = resized.layers[i];
    if (l.kind != LayerKind::kConvolutional) continue;
    const int in_c = i == 0 ? resized.channels : resized.layers[size_t(l.inputs[0])].output.c;
    total += 2.0 * input.n * l.output.h * l.output.w * l.output.c * (in_c / l.conv.groups) *
             l.conv.size * l.conv.size;
  }
  return total;
}

size_t Graph::weight_bytes() const {
  size_t total = 0;
  for (const ConvOp& op : plan_->convs) {
    total += std::visit([](const auto& conv) { return conv.weight_bytes(); }, op);
  }
  return total;
}

std::vector<Graph::ConvInfo> Graph::convs() const {
  std::vector<ConvInfo> out;
  for (size_t k = 0; k < plan_->convs.size(); ++k) {
    const int layer = plan_->conv_layers[k];
    std::visit(
        [&](const auto& conv) {
          out.push_back({layer, spec_.layers[size_t(layer)].name, conv.kernel_name(),
                         conv.config().winograd});
        },
        plan_->convs[k]);
  }
  return out;
}

std::vector<Graph::ConvPlan> Graph::explain(const Shape& input, int cores) const {
  validate_input(input);
  const NetworkSpec resized = spec_.resized(input.w, input.h);
  std::vector<ConvPlan> out;
  for (size_t k = 0; k < plan_->convs.size(); ++k) {
    const size_t layer = size_t(plan_->conv_layers[k]);
    const LayerSpec& l = resized.layers[layer];
    Shape in = layer == 0 ? Shape{1, input.h, input.w, input.c}
                          : resized.layers[size_t(l.inputs[0])].output;
    in.n = input.n;
    Shape output = l.output;
    output.n = input.n;
    std::visit(
        [&](const auto& conv) {
          ConvStrategy strategy;
          if constexpr (requires { conv.strategy(in, cores); }) {
            strategy = conv.strategy(in, cores);
          } else {
            strategy.grid_rows = cores;  // grouped convs split output rows
            strategy.reason = "grouped: rows over cores";
          }
          out.push_back({l.name, in, output, strategy, conv.kernel_name()});
        },
        plan_->convs[k]);
  }
  return out;
}

}  // namespace yolo4
