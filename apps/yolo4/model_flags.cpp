#include "model_flags.h"

#include <cstdio>

#include "yolo4/core/device.h"
#include "yolo4/core/error.h"

namespace yolo4::cli {

void ModelFlags::add_to(ArgParser& p, const std::string& weights_help) {
  p.option("--weights", "FILE", weights_help, &weights);
  p.option("--cfg", "FILE", "darknet .cfg to check the weights against (and yolo layer params)",
           &cfg);
  p.option("--size", "N", "network input size, a multiple of 32 (default 320)", &size, 32, 4096);
  p.option(
      "--threads", "N",
      "worker threads, one per core (default: all usable CPUs; more than that are clamped to it, "
      "with a note on stderr)",
      &threads, 1, 1024);
  p.flag("--no-pin", "let the OS move the threads between CPUs (default: one pinned per CPU)",
         &no_pin);
  p.option("--preset", "NAME",
           std::string("fp32 (float32, HiFi4), bf16 (bfloat16 activations and weights, LoFi), "
                       "report (bfloat16 + bfloat8_b + LoFi, direct convs: the report's config) "
                       "or fast (report + Winograd); default ") +
               kDefaultPreset,
           &preset);
  p.option("--dtype", "T", "activations: float32 or bfloat16 (overrides the preset)", &dtype);
  p.option("--weights-dtype", "T", "weights: float32, bfloat16 or bfloat8_b (overrides the preset)",
           &weights_dtype);
  p.option("--fidelity", "F",
           "hifi4 (fp32 products) or lofi (bf16 products) (overrides the preset)", &fidelity);
  p.flag("--approx", "fast approximate mish in the convs (math_approx_mode)", &approx);
  p.flag("--no-winograd",
         "direct convolution everywhere (all presets but report run Winograd "
         "F(2x2,3x3) on the 3x3 convs the layer table lists)",
         &no_winograd);
  p.option("--isa", "ISA", "kernels: avx512, avx2 or scalar (default: best this CPU has)", &isa);
}

ModelOptions ModelFlags::options() const {
  YOLO4_CHECK(size % 32 == 0, "--size ", size, " is not a multiple of 32");
  ModelOptions o = ModelOptions::preset(preset);
  if (!dtype.empty()) o.dtype = parse_data_type(dtype);
  if (!weights_dtype.empty()) o.weights_dtype = parse_data_type(weights_dtype);
  if (!fidelity.empty()) o.math_fidelity = parse_math_fidelity(fidelity);
  o.math_approx_mode = approx;
  if (no_winograd) o.winograd = false;
  if (!isa.empty()) o.isa = parse_isa(isa);
  YOLO4_CHECK(isa_supported(o.isa), "--isa ", isa, ": this CPU cannot run it");
  return o;
}

std::optional<DarknetCfg> ModelFlags::load_cfg() const {
  if (cfg.empty()) return std::nullopt;
  return parse_darknet_cfg(cfg);
}

Yolov4Weights ModelFlags::load_weights(const DarknetCfg* parsed_cfg) const {
  if (weights.empty()) return random_yolov4_weights(1);
  return load_yolov4_weights(weights, parsed_cfg);
}

int ModelFlags::thread_count() const {
  if (threads <= 0) return default_thread_count();
  // More threads than CPUs time-slice the cores and wait at every op's barrier: much slower.
  const int usable = usable_cpu_count();
  if (threads <= usable) return threads;
  std::fprintf(stderr, "yolo4: --threads %d is more than the %d usable CPUs; using %d\n", threads,
               usable, usable);
  return usable;
}

ThreadPinning ModelFlags::pinning() const {
  return no_pin ? ThreadPinning::kFloating : ThreadPinning::kPinned;
}

}  // namespace yolo4::cli
