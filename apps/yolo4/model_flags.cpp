#include "model_flags.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "yolo4/core/device.h"
#include "yolo4/core/error.h"
#include "yolo4/io/download.h"
#include "yolo4/io/model_zoo.h"

namespace yolo4::cli {

void ModelFlags::add_to(ArgParser& p, const std::string& weights_help) {
  p.option("--weights", "FILE", weights_help, &weights);
  p.option("--cfg", "FILE",
           "darknet .cfg of the network (default: the built-in yolov4.cfg); any cfg of "
           "[convolutional], [route], [shortcut], [maxpool], [upsample], [dropout], [yolo] layers",
           &cfg);
  std::string models;
  for (const NamedModel& m : named_models()) {
    models += std::string(models.empty() ? "" : ", ") + std::string(m.name);
  }
  p.option("--model", "NAME",
           "a built-in model: " + models +
               " (default yolov4); its cfg is built in and --weights auto downloads its weights",
           &model);
  p.option("--names", "FILE",
           "class names, one per line (default: COCO's for 80 classes, else class0, class1, ...)",
           &names);
  p.option("--size", "N",
           "network input W = H, a multiple of the network's stride (default: the --cfg's "
           "width/height, 320 for the built-in YOLOv4)",
           &size, 1, 8192);
  p.option(
      "--threads", "N",
      "worker threads, one per core (default: all usable CPUs; more than that are clamped to it, "
      "with a note on stderr)",
      &threads, 1, 1024);
  p.flag("--no-pin", "let the OS move the threads between CPUs (default: one pinned per CPU)",
         &no_pin);
  const AutoPreset chosen = auto_preset(best_isa());
  p.option("--preset", "NAME",
           detail::concat("auto (default: on this CPU ", chosen.name(), ", because ", chosen.why,
                          "), fp32 (float32, HiFi4), bf16 (bfloat16 activations and weights, "
                          "LoFi), report (bfloat16 + bfloat8_b + LoFi, direct convs: the report's "
                          "config) or fast (report + Winograd)"),
           &preset);
  p.option("--dtype", "T", "activations: float32 or bfloat16 (overrides the preset)", &dtype);
  p.option("--weights-dtype", "T", "weights: float32, bfloat16 or bfloat8_b (overrides the preset)",
           &weights_dtype);
  p.option("--fidelity", "F",
           "hifi4 (fp32 products) or lofi (bf16 products) (overrides the preset)", &fidelity);
  p.flag("--approx",
         "fast approximate mish in the convs (math_approx_mode; auto turns it on where its "
         "table says)",
         &approx);
  p.flag("--compact-weights",
         "keep bfloat8_b weights (report, fast) in memory as their blocks of 16 sharing an "
         "exponent: about half the memory of the bfloat16 values they are otherwise kept in, "
         "decoded at every use (slower)",
         &compact_weights);
  p.flag("--no-winograd",
         "direct convolution everywhere (all presets but report run Winograd, F(6x6,3x3), "
         "F(4x4,3x3) or F(2x2,3x3), on the 3x3 convs the layer table lists, stride 2 too where "
         "the products are fp32 FMAs or VDPBF16PS)",
         &no_winograd);
  p.option("--isa", "ISA", "kernels: avx512, avx2 or scalar (default: best this CPU has)", &isa);
}

ModelOptions ModelFlags::options() const {
  const Isa chosen_isa = isa.empty() ? best_isa() : parse_isa(isa);
  YOLO4_CHECK(isa_supported(chosen_isa), "--isa ", isa, ": this CPU cannot run it");
  ModelOptions o = ModelOptions::preset(preset, chosen_isa);
  if (!dtype.empty()) o.dtype = parse_data_type(dtype);
  if (!weights_dtype.empty()) o.weights_dtype = parse_data_type(weights_dtype);
  if (!fidelity.empty()) o.math_fidelity = parse_math_fidelity(fidelity);
  if (approx) o.math_approx_mode = true;  // on top of the preset: auto may have set it
  if (compact_weights) o.compact_weights = true;
  if (no_winograd) o.winograd = false;
  o.pack_threads = std::min(threads, usable_cpu_count());  // 0 (not given): every usable CPU
  return o;
}

const std::string& ModelFlags::model_name() const {
  static const std::string kDefault = "yolov4";
  return model.empty() ? kDefault : model;
}

std::string ModelFlags::resolved_weights(const std::string& command, bool quiet) const {
  if (weights != "auto") return weights;
  const DownloadSpec spec = named_model(model_name()).weights;
  const std::string path = cache_dir() + "/" + spec.file_name;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !quiet) {
    std::cerr << command << ": --weights auto uses the official " << model_name()
              << " weights, downloaded once on first use (" << spec.file_name << ", ~"
              << (spec.size + 500000) / 1000000 << " MB) into " << cache_dir()
              << " (set XDG_CACHE_HOME to change that, or pass --weights FILE)" << std::endl;
  }
  DownloadOptions options;
  options.progress = quiet ? ProgressMode::kNever : ProgressMode::kAuto;
  try {
    return ensure_weights(spec, options);
  } catch (const Error& e) {
    throw WeightsUnavailable(e.what());
  }
}

ModelSource ModelFlags::source() const {
  YOLO4_CHECK(model.empty() || cfg.empty(), "give --model NAME or --cfg FILE, not both");
  ModelSource s{resolved_weights("yolo4", false), cfg, names, options()};
  s.builtin_cfg = std::string(named_model(model_name()).cfg_file);
  return s;
}

std::pair<int, int> ModelFlags::input_size(const NetworkSpec& spec) const {
  if (size > 0) return {size, size};
  if (cfg.empty() && model_name() == "yolov4") return {kDefaultYolov4Size, kDefaultYolov4Size};
  return {spec.width, spec.height};
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
