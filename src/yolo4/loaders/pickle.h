// A small unpickler for what torch.save writes into data.pkl: a (possibly wrapped) state_dict of
// tensors. It builds plain values and recognises only the torch globals such a file uses, so an
// arbitrary pickle cannot run code or build unexpected objects.
// Kept on purpose rather than replaced by a general pickle library: loading a .pth never executes
// pickle code (REDUCE calls only the known torch globals, interpreted here; nothing is imported),
// which is a safety feature.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace yolo4 {

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

struct PickleNone {};
struct PickleTuple {
  std::vector<PickleRef> items;
};
struct PickleList {
  std::vector<PickleRef> items;
};
// Keeps insertion order, like the OrderedDict a state_dict is.
struct PickleDict {
  std::vector<std::pair<PickleRef, PickleRef>> items;
};
// A module attribute named by GLOBAL, e.g. torch.FloatStorage.
struct PickleGlobal {
  std::string module;
  std::string name;
};
// A storage named by a persistent id ('storage', type, key, location, numel); its bytes are
// the archive entry data/<key>.
struct TorchStorage {
  std::string type;  // the storage class, e.g. "FloatStorage", "HalfStorage"
  std::string key;
  std::string location;
  int64_t numel = 0;
};
// torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...): a strided view.
struct TorchTensor {
  TorchStorage storage;
  int64_t offset = 0;
  std::vector<int64_t> size;
  std::vector<int64_t> stride;
};

struct PickleValue {
  std::variant<PickleNone, bool, int64_t, double, std::string, PickleTuple, PickleList, PickleDict,
               PickleGlobal, TorchStorage, TorchTensor>
      value;
};

// Unpickles `bytes`; `source` names them in errors (e.g. "model.pth: archive/data.pkl").
// Unknown opcodes and globals fail with their name and byte offset.
PickleRef unpickle_torch(std::span<const uint8_t> bytes, const std::string& source);

// The value stored under a string key, or nullptr.
const PickleValue* dict_get(const PickleDict& dict, std::string_view key);

}  // namespace yolo4
