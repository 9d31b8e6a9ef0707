// Does batching concurrent requests into one inference raise throughput? Images per second of
// one Detector running the network on N images at once (Detector::heads on an N x H x W x 3
// input), for N = 1, 2, 4, 8 and 1 or 2 threads; compare items_per_second across N. Usage:
//   detector_batch_bench --cfg=FILE --weights=FILE [--preset=fast] [google benchmark flags]
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "yolo4/pipeline/detector.h"

namespace {

yolo4::ModelSource g_source;
std::shared_ptr<const yolo4::DetectionModel> g_model;

void BM_BatchedNetwork(benchmark::State& state) {
  const int batch = int(state.range(0));
  yolo4::DetectorOptions options;
  options.threads = int(state.range(1));
  yolo4::Detector detector(g_model, options);
  const yolo4::Shape shape{batch, detector.input_height(), detector.input_width(), 3};
  std::vector<float> input(size_t(shape.elements()));
  std::mt19937 random(1);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (float& v : input) v = unit(random);
  detector.heads(input, shape);  // the first run plans the activation arena for this shape
  for (auto _ : state) benchmark::DoNotOptimize(detector.heads(input, shape));
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_BatchedNetwork)
    ->ArgNames({"batch", "threads"})
    ->ArgsProduct({{1, 2, 4, 8}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest = {argv[0]};
  std::string preset = "fast";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--cfg=", 6) == 0) {
      g_source.cfg = argv[i] + 6;
    } else if (std::strncmp(argv[i], "--weights=", 10) == 0) {
      g_source.weights = argv[i] + 10;
    } else if (std::strncmp(argv[i], "--preset=", 9) == 0) {
      preset = argv[i] + 9;
    } else {
      rest.push_back(argv[i]);
    }
  }
  g_source.options = yolo4::ModelOptions::preset(preset);
  g_model = yolo4::load_detection_model(g_source);
  int rest_argc = int(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
