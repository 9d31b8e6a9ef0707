// The restricted unpickler of a checkpoint's data.pkl, fed directly.
#include "fuzz_util.h"
#include "yolo4/loaders/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace yolo4;
  fuzz::expect_ok_or_error([&] {
    const PickleRef root = unpickle_torch({data, size}, "fuzz: data.pkl");
    if (const auto* dict = std::get_if<PickleDict>(&root->value)) dict_get(*dict, "state_dict");
  });
  return 0;
}
