#include "yolo4/model/graph.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <variant>

#include "yolo4/core/error.h"
#include "yolo4/core/jobs.h"
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

// Builds a Graph's Plan from its spec in passes: aliases, readers, fused shortcuts, zero-copy
// concats, then the steps and the lifetimes.
class Planner {
 public:
  Planner(const NetworkSpec& spec, const ModelOptions& options, Graph::Plan& plan)
      : spec_(spec), options_(options), plan_(plan), n_(spec.layers.size()) {}

  void run(std::vector<ConvParameters>& params) {
    resolve_aliases();
    find_value_readers();
    fuse_shortcuts();
    place_concats();
    emit_steps(params);
    compute_lifetimes();
    pack_convs();
  }

 private:
  int input_of(size_t layer) const {
    return spec_.layers[layer].inputs.empty() ? kNetworkInput : spec_.layers[layer].inputs[0];
  }
  int root_of(int layer) const { return layer < 0 ? layer : plan_.root[size_t(layer)]; }
  const LayerSpec& layer(int i) const { return spec_.layers[size_t(i)]; }

  // Dropouts and single-input full routes are their input's value.
  void resolve_aliases() {
    plan_.root.resize(n_);
    for (size_t i = 0; i < n_; ++i) {
      const LayerSpec& l = spec_.layers[i];
      const bool alias =
          l.kind == LayerKind::kDropout ||
          (l.kind == LayerKind::kRoute && l.inputs.size() == 1 && l.route_groups == 1);
      plan_.root[i] = alias ? root_of(input_of(i)) : int(i);
    }
  }

  // The layers reading each value, through aliases.
  void find_value_readers() {
    std::vector<std::vector<int>> readers(n_);
    for (size_t i = 0; i < n_; ++i) {
      for (int j : spec_.layers[i].inputs) readers[size_t(j)].push_back(int(i));
    }
    value_readers_.resize(n_);
    for (size_t i = 0; i < n_; ++i) {
      if (plan_.root[i] != int(i)) continue;
      std::vector<int> pending = readers[i];
      while (!pending.empty()) {
        const int r = pending.back();
        pending.pop_back();
        if (plan_.root[size_t(r)] == int(i)) {
          pending.insert(pending.end(), readers[size_t(r)].begin(), readers[size_t(r)].end());
        } else {
          value_readers_[i].push_back(r);
        }
      }
    }
  }

  // A linear shortcut that alone reads a conv's output runs in that conv's epilogue:
  // out = act(conv) + from.
  void fuse_shortcuts() {
    fused_into_.assign(n_, -1);
    fused_shortcut_.assign(n_, false);
    writer_.resize(n_);
    for (size_t i = 0; i < n_; ++i) writer_[i] = int(i);
    for (size_t i = 0; i < n_; ++i) {
      const LayerSpec& l = spec_.layers[i];
      if (l.kind != LayerKind::kShortcut || l.shortcut_activation != Activation::kNone) continue;
      const int conv = root_of(l.inputs[0]);
      if (conv < 0 || layer(conv).kind != LayerKind::kConvolutional) continue;
      if (value_readers_[size_t(conv)].size() != 1 || root_of(l.inputs[1]) == conv) continue;
      fused_into_[size_t(conv)] = int(i);
      fused_shortcut_[i] = true;
      writer_[i] = conv;
    }
  }

  // Zero-copy concats: each producer writes into the first multi-input route that reads it, which
  // is allocated just before its earliest producer runs.
  void place_concats() {
    target_.assign(n_, {});
    first_producer_.assign(n_, int(n_));
    for (size_t r = 0; r < n_; ++r) {
      const LayerSpec& l = spec_.layers[r];
      if (l.kind != LayerKind::kRoute || l.inputs.size() < 2 || l.route_groups != 1) continue;
      int offset = 0;
      std::vector<int> seen;
      for (int in : l.inputs) {
        const int v = root_of(in);
        if (v >= 0 && target_[size_t(v)].concat < 0 && writes_into_slice(layer(v)) &&
            std::find(seen.begin(), seen.end(), v) == seen.end()) {
          target_[size_t(v)] = {int(r), offset};
          first_producer_[r] = std::min(first_producer_[r], writer_[size_t(v)]);
        }
        seen.push_back(v);
        offset += layer(in).output.c;
      }
    }
  }

  // A conv read only by [yolo] layers keeps float32 outputs for decoding.
  bool feeds_only_yolo(int i) const {
    const auto& rs = value_readers_[size_t(i)];
    return !rs.empty() && std::all_of(rs.begin(), rs.end(),
                                      [&](int r) { return layer(r).kind == LayerKind::kYolo; });
  }

  void add_conv(size_t i, ConvParameters& w) {
    const LayerSpec& l = spec_.layers[i];
    const ConvLayerSpec& c = l.conv;
    const int in_channels = i == 0 ? spec_.channels : layer(input_of(i)).output.c;
    const Conv2dConfig config = conv_config(
        {in_channels, c.filters, c.size, c.stride, c.groups, c.activation, feeds_only_yolo(int(i))},
        options_);
    const Conv2dParams p{in_channels, c.filters, c.size, c.stride, c.padding, c.groups};
    YOLO4_CHECK(int64_t(w.weight.size()) ==
                        int64_t(c.filters) * (in_channels / c.groups) * c.size * c.size &&
                    int(w.bias.size()) == c.filters,
                spec_.path, ":", l.line, ": conv parameters do not match the layer");
    conv_jobs_.push_back({p, config, &w});
    plan_.conv_layers.push_back(int(i));
    const int out = fused_into_[i] >= 0 ? fused_into_[i] : int(i);
    Step step = make_step(Step::Op::kConv, out, {root_of(input_of(i))}, target_[size_t(out)]);
    step.conv = int(conv_jobs_.size() - 1);
    if (fused_into_[i] >= 0) {
      step.residual = root_of(layer(out).inputs[1]);
      step.reads.push_back(step.residual);
    }
    plan_.steps.push_back(step);
  }

  void add_route(size_t i) {
    const LayerSpec& l = spec_.layers[i];
    if (plan_.root[i] != int(i)) return;  // an alias
    if (l.inputs.size() == 1) {
      plan_.steps.push_back(make_step(Step::Op::kSliceView, int(i), {root_of(l.inputs[0])}));
      return;
    }
    Step step = make_step(Step::Op::kConcat, int(i), {});
    int offset = 0;
    for (int j : l.inputs) {
      const int v = root_of(j);
      step.reads.push_back(v);
      step.copy.push_back(!(v >= 0 && target_[size_t(v)].concat == int(i) &&
                            target_[size_t(v)].channel_offset == offset));
      offset += layer(j).output.c / l.route_groups;
    }
    plan_.steps.push_back(step);
  }

  void emit_steps(std::vector<ConvParameters>& params) {
    const auto convs =
        size_t(std::count_if(spec_.layers.begin(), spec_.layers.end(), [](const LayerSpec& l) {
          return l.kind == LayerKind::kConvolutional;
        }));
    YOLO4_CHECK(params.size() == convs, spec_.path, ": ", params.size(),
                " sets of conv parameters for a network of ", convs, " convs");
    size_t next_param = 0;
    for (size_t i = 0; i < n_; ++i) {
      for (size_t r = 0; r < n_; ++r) {
        if (first_producer_[r] == int(i)) {
          plan_.steps.push_back(make_step(Step::Op::kAllocateConcat, int(r), {}));
        }
      }
      const LayerSpec& l = spec_.layers[i];
      const int in = root_of(input_of(i));
      switch (l.kind) {
        case LayerKind::kConvolutional:
          add_conv(i, params[next_param++]);
          break;
        case LayerKind::kShortcut:
          if (!fused_shortcut_[i]) {
            plan_.steps.push_back(
                make_step(Step::Op::kAdd, int(i), {in, root_of(l.inputs[1])}, target_[i]));
          }
          break;
        case LayerKind::kMaxPool:
          plan_.steps.push_back(make_step(Step::Op::kMaxPool, int(i), {in}, target_[i]));
          break;
        case LayerKind::kUpsample:
          plan_.steps.push_back(make_step(Step::Op::kUpsample, int(i), {in}, target_[i]));
          break;
        case LayerKind::kRoute:
          add_route(i);
          break;
        case LayerKind::kYolo:
          plan_.heads.push_back(in);
          break;
        case LayerKind::kDropout:
          break;
      }
    }
  }

  // A value is dropped after the last step that reads it; the heads live to the end.
  void compute_lifetimes() {
    plan_.last_read.assign(n_, -1);
    for (size_t s = 0; s < plan_.steps.size(); ++s) {
      for (int v : plan_.steps[s].reads) {
        if (v >= 0) plan_.last_read[size_t(v)] = int(s);
      }
      int& written = plan_.last_read[size_t(plan_.steps[s].layer)];
      written = std::max(written, int(s));
    }
    for (int h : plan_.heads) {
      if (h >= 0) plan_.last_read[size_t(h)] = int(plan_.steps.size());
    }
  }

  // Transforms and packs every conv's weights, the convs shared out over the CPUs:
  // packing is most of a model's load time, and on a virtual machine so is the first touch of
  // the packed weights' fresh pages, which a host backs per CPU (docs/perf.md, 2026-12-05).
  void pack_convs() {
    const size_t n = conv_jobs_.size();
    std::vector<size_t> weights(n);
    for (size_t i = 0; i < n; ++i) weights[i] = conv_jobs_[i].params->weight.size();
    std::vector<std::optional<ConvOp>> packed(n);
    run_jobs(weights, options_.pack_threads, [&](size_t i) {
      ConvParameters& w = *conv_jobs_[i].params;
      const Conv2dParams& p = conv_jobs_[i].p;
      if (p.groups == 1) {
        packed[i].emplace(std::in_place_type<Conv2d>, p, w.weight, w.bias, conv_jobs_[i].config,
                          options_.isa);
      } else {
        packed[i].emplace(std::in_place_type<GroupedConv2d>, p, w.weight, w.bias,
                          conv_jobs_[i].config, options_.isa);
      }
      w = {};  // packed now; release the floats
    });
    plan_.convs.reserve(n);
    for (std::optional<ConvOp>& op : packed) plan_.convs.push_back(std::move(*op));
  }

  // A conv whose weights pack_convs packs after the steps are emitted.
  struct ConvJob {
    Conv2dParams p;
    Conv2dConfig config;
    ConvParameters* params;
  };

  const NetworkSpec& spec_;
  const ModelOptions& options_;
  Graph::Plan& plan_;
  std::vector<ConvJob> conv_jobs_;
  const size_t n_;
  std::vector<std::vector<int>> value_readers_;
  std::vector<int> fused_into_;       // conv layer -> the shortcut layer it produces, or -1
  std::vector<bool> fused_shortcut_;  // shortcut layers run inside their conv
  std::vector<int> writer_;           // the layer whose step writes each value
  std::vector<Target> target_;
  std::vector<int> first_producer_;  // per concat route: the earliest layer writing into it
};

}  // namespace

Graph::Graph(NetworkSpec spec, std::vector<ConvParameters> params, const ModelOptions& options)
    : spec_(std::move(spec)), options_(options), plan_(std::make_unique<Plan>()) {
  Planner(spec_, options_, *plan_).run(params);
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

namespace {

// One execution of a plan: the values of the layers, each dropped after its last reader.
class Run {
 public:
  Run(const NetworkSpec& spec, const Graph::Plan& plan, const std::vector<Shape>& shapes,
      Device& device, const Tensor& input, DataType activations)
      : spec_(spec),
        plan_(plan),
        shapes_(shapes),
        device_(device),
        input_(input),
        activations_(activations),
        values_(spec.layers.size()) {}

  std::vector<Tensor> operator()() {
    for (size_t s = 0; s < plan_.steps.size(); ++s) {
      const Step& step = plan_.steps[s];
      OpScope scope(device_, spec_.layers[size_t(step.layer)].name);
      run(step);
      release_after(step, int(s));
    }
    std::vector<Tensor> heads;
    for (int h : plan_.heads) heads.push_back(value(h));
    return heads;
  }

 private:
  const Tensor& value(int v) const { return v == kNetworkInput ? input_ : values_[size_t(v)]; }

  Tensor allocate(int layer, DataType dtype) {
    TensorSpec spec;
    spec.shape = shapes_[size_t(layer)];
    spec.shape.n = input_.shape().n;
    spec.dtype = dtype;
    return device_.allocate(spec);
  }

  // The tensor a step writes: its slice of a concat, or a new one.
  Tensor output_for(const Step& step, DataType dtype) {
    if (step.target.concat < 0) return allocate(step.layer, dtype);
    const int channels = shapes_[size_t(step.layer)].c;
    return values_[size_t(step.target.concat)].channel_slice(step.target.channel_offset, channels);
  }

  void run(const Step& step) {
    const LayerSpec& layer = spec_.layers[size_t(step.layer)];
    Tensor& out = values_[size_t(step.layer)];
    const Tensor& in = value(step.reads.empty() ? kNetworkInput : step.reads[0]);
    switch (step.op) {
      case Step::Op::kAllocateConcat:
        out = allocate(step.layer, activations_);
        break;
      case Step::Op::kConv:
        std::visit(
            [&](const auto& conv) {
              out = output_for(step, conv.config().dtype);
              conv.run(device_, in, out, step.residual == -1 ? nullptr : &value(step.residual));
            },
            plan_.convs[size_t(step.conv)]);
        break;
      case Step::Op::kAdd:
        out = output_for(step, in.dtype());
        add(device_, in, value(step.reads[1]), out, layer.shortcut_activation);
        break;
      case Step::Op::kMaxPool:
        out = output_for(step, in.dtype());
        max_pool2d(device_, in, out, {layer.pool_size, layer.pool_stride, layer.pool_padding});
        break;
      case Step::Op::kUpsample:
        out = output_for(step, in.dtype());
        upsample_nearest(device_, in, out, layer.upsample_stride);
        break;
      case Step::Op::kSliceView:
        out = group_of(in, layer);
        break;
      case Step::Op::kConcat:
        concat(step, layer, out);
        break;
    }
  }

  // Channel group route_group_id of route_groups (the whole tensor for one group).
  static Tensor group_of(const Tensor& t, const LayerSpec& route) {
    const int part = t.shape().c / route.route_groups;
    return t.channel_slice(part * route.route_group_id, part);
  }

  // Copies in the inputs that did not write their slice in place.
  void concat(const Step& step, const LayerSpec& route, Tensor& out) {
    if (!out.is_allocated()) out = allocate(step.layer, activations_);
    int offset = 0;
    for (size_t k = 0; k < step.reads.size(); ++k) {
      const Tensor part = group_of(value(step.reads[k]), route);
      if (step.copy[k]) copy_into(device_, part, out.channel_slice(offset, part.shape().c));
      offset += part.shape().c;
    }
  }

  void release_after(const Step& step, int s) {
    for (int v : step.reads) {
      if (v >= 0 && plan_.last_read[size_t(v)] == s) values_[size_t(v)].deallocate();
    }
    if (plan_.last_read[size_t(step.layer)] == s) values_[size_t(step.layer)].deallocate();
  }

  const NetworkSpec& spec_;
  const Graph::Plan& plan_;
  const std::vector<Shape>& shapes_;
  Device& device_;
  const Tensor& input_;
  const DataType activations_;
  std::vector<Tensor> values_;
};

}  // namespace

std::vector<Tensor> Graph::operator()(Device& device, const Tensor& input) const {
  validate_device_isa(device, isa(), spec_.path);
  validate_input(input.shape());
  const std::vector<Shape>& shapes =
      layer_shapes(spec_, plan_->shapes_mutex, plan_->shapes, input.shape());
  return Run(spec_, *plan_, shapes, device, input, options_.dtype)();
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
          const ConvLayerShape shape{in.c, l.conv.filters, l.conv.size, l.conv.stride,
                                     l.conv.groups};
          out.push_back({l.name, in, output, strategy, conv.kernel_name(),
                         std::string(winograd_reason(shape, options_))});
        },
        plan_->convs[k]);
  }
  return out;
}

}  // namespace yolo4
