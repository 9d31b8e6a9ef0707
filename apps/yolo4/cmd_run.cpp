// yolo4 run: one input through the network, the raw heads written as .npy files.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "model_flags.h"
#include "yolo4/core/error.h"
#include "yolo4/io/image_input.h"
#include "yolo4/loaders/npy.h"
#include "yolo4/ops/layout.h"
#include "yolo4/pipeline/detector.h"

namespace yolo4::cli {

namespace {
// The network input as a (1, H, W, 3) tensor, from an image or from a (1, 3, H, W) .npy.
Tensor load_input(const std::string& image, const std::string& npy, int width, int height) {
  if (!image.empty()) {
    const NetworkInput in = load_network_input(image, width, height, ResizeMode::kPlain);
    return from_nhwc(in.data.data(), {1, height, width, 3});
  }
  const HostArray a = read_npy(npy);
  YOLO4_CHECK(a.shape.size() == 4 && a.shape[1] == 3, npy, ": shape must be (N, 3, H, W), got ",
              a.shape.size(), " dimensions");
  const Shape shape{int(a.shape[0]), int(a.shape[2]), int(a.shape[3]), 3};
  return from_nchw(a.data.data(), shape);
}

void write_head(const std::string& path, const Tensor& head) {
  const std::vector<float> nchw = to_nchw(head);
  const Shape& s = head.shape();
  const int64_t shape[] = {s.n, s.c, s.h, s.w};
  write_npy(path, nchw.data(), shape);
}
}  // namespace

int run_command(int argc, char** argv) {
  ModelFlags flags;
  std::string image, input, dump;
  ArgParser p(
      "yolo4 run --weights FILE [--cfg FILE] (--image FILE | --input FILE.npy) "
      "[--size N] --dump DIR",
      "Runs one input through the network (YOLOv4 by default, or any --cfg) and writes the\n"
      "raw head outputs as float32 .npy files of shape (N, C, H, W), one per [yolo] layer,\n"
      "named by stride: head8.npy, head16.npy, head32.npy for YOLOv4.");
  flags.add_to(p, "weights (.pth or darknet .weights); default: random weights");
  p.option("--image", "FILE", "image: RGB, resized to size x size (bilinear), scaled to [0,1]",
           &image);
  p.option("--input", "FILE.npy", "the network input directly, (N,3,H,W) float32", &input);
  p.option("--dump", "DIR", "directory for the head<stride>.npy files", &dump);
  if (!p.parse(argc, argv)) return 0;
  YOLO4_CHECK(image.empty() != input.empty(), "give exactly one of --image and --input");
  YOLO4_CHECK(!dump.empty(), "--dump DIR is required");

  const auto model = load_detection_model(flags.source());
  const auto [width, height] = flags.input_size(model->spec());
  Device device(flags.thread_count(), model->isa(), flags.pinning());
  const Tensor in = load_input(image, input, width, height);
  const std::vector<Tensor> heads = model->graph()(device, in);
  std::filesystem::create_directories(dump);
  for (const Tensor& head : heads) {
    const std::string path =
        dump + "/head" + std::to_string(in.shape().h / head.shape().h) + ".npy";
    write_head(path, head);
    std::cout << "wrote " << path << "\n";
  }
  return 0;
}

}  // namespace yolo4::cli
