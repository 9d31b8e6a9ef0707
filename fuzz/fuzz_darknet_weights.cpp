// Darknet .weights files. The file has no layer boundaries, so the input starts with the read
// plan a model would make: [u8 n][n x u32 float counts], then the file itself.
#include "fuzz_util.h"
#include "yolo4/loaders/darknet_weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolo4;
  fuzz::InputReader input({data, size});
  std::vector<uint32_t> counts(input.u8() % 8);
  for (uint32_t& count : counts) count = input.u32();
  const std::string path = fuzz::write_scratch("darknet_weights", input.rest());
  fuzz::expect_ok_or_error([&] {
    DarknetWeightsReader reader(path);
    uint64_t total = 0;
    for (const uint32_t count : counts) total += count;
    fuzz::expect_ok_or_error([&] { reader.expect_float_count(total); });
    for (const uint32_t count : counts) reader.read(count);
    reader.expect_end();
  });
  return 0;
}
