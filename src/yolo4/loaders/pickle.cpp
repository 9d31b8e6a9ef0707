#include "yolo4/loaders/pickle.h"

#include <bit>
#include <unordered_map>
#include <unordered_set>

#include "yolo4/core/error.h"
#include "yolo4/loaders/binary_io.h"

namespace yolo4 {
namespace {

// Opcodes of pickle protocol 2 (torch.save's default) plus the few protocol 4 framing ones.
enum Op : uint8_t {
  kMark = '(',
  kStop = '.',
  kPop = '0',
  kPopMark = '1',
  kDup = '2',
  kBinFloat = 'G',
  kBinInt = 'J',
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kNone = 'N',
  kBinPersId = 'Q',
  kReduce = 'R',
  kBinString = 'T',
  kShortBinString = 'U',
  kBinUnicode = 'X',
  kAppend = 'a',
  kBuild = 'b',
  kGlobal = 'c',
  kAppends = 'e',
  kBinGet = 'h',
  kLongBinGet = 'j',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kSetItem = 's',
  kTuple = 't',
  kSetItems = 'u',
  kEmptyDict = '}',
  kEmptyList = ']',
  kEmptyTuple = ')',
  kProto = 0x80,
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kLong1 = 0x8a,
  kShortBinUnicode = 0x8c,
  kStackGlobal = 0x93,
  kMemoize = 0x94,
  kFrame = 0x95,
};

constexpr int kMaxProtocol = 5;
// A state_dict nests 2-4 levels deep; deeper values are refused so that neither the checks
// below nor the shared_ptr destructors recurse without bound.
constexpr size_t kMaxNesting = 1000;

template <class T>
PickleRef make(T value) {
  return std::make_shared<PickleValue>(PickleValue{std::move(value)});
}

// The values a tuple, list or dict refers to.
std::vector<const PickleValue*> items_of(const PickleValue& value) {
  std::vector<const PickleValue*> items;
  if (const auto* tuple = std::get_if<PickleTuple>(&value.value)) {
    for (const auto& item : tuple->items) items.push_back(item.get());
  } else if (const auto* list = std::get_if<PickleList>(&value.value)) {
    for (const auto& item : list->items) items.push_back(item.get());
  } else if (const auto* dict = std::get_if<PickleDict>(&value.value)) {
    for (const auto& [key, item] : dict->items) items.insert(items.end(), {key.get(), item.get()});
  }
  return items;
}

class Unpickler {
 public:
  Unpickler(std::span<const uint8_t> bytes, const std::string& source) : in_(bytes, source) {}
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  // A pickle can make a list or dict hold itself (DUP, then APPEND or SETITEM): shared_ptr
  // cycles that would never be freed. Every container made here is emptied unless it is part
  // of the value run() returned, which check_graph found acyclic.
  ~Unpickler() {
    for (const PickleRef& container : containers_) {
      if (result_.contains(container.get())) continue;
      std::visit(
          [](auto& value) {
            if constexpr (requires { value.items; }) value.items.clear();
          },
          container->value);
    }
  }

  PickleRef run() {
    for (;;) {
      op_offset_ = in_.offset();
      const auto op = in_.read<uint8_t>();
      if (op == kStop) break;
      execute(op);
    }
    check(stack_.size() == 1 && marks_.empty(), "STOP with ", stack_.size(),
          " values on the stack, expected 1");
    result_ = check_graph(*stack_.back());
    return stack_.back();
  }

 private:
  // Depth-first over the result without recursion: refuses cycles and deep nesting. Shared
  // values (the memo makes a DAG) are walked once. Returns every value reached.
  std::unordered_set<const PickleValue*> check_graph(const PickleValue& root) const {
    enum class Mark { kOnPath, kDone };
    std::unordered_map<const PickleValue*, Mark> marks{{&root, Mark::kOnPath}};
    struct Frame {
      const PickleValue* value;
      std::vector<const PickleValue*> items;
      size_t next = 0;
    };
    std::vector<Frame> path{{&root, items_of(root)}};
    while (!path.empty()) {
      Frame& frame = path.back();
      if (frame.next == frame.items.size()) {
        marks[frame.value] = Mark::kDone;
        path.pop_back();
        continue;
      }
      const PickleValue* item = frame.items[frame.next++];
      const auto [it, first_visit] = marks.try_emplace(item, Mark::kOnPath);
      if (!first_visit) {
        check(it->second == Mark::kDone, "a container holds itself (a reference cycle)");
        continue;
      }
      check(path.size() < kMaxNesting, "values nested more than ", kMaxNesting, " levels deep");
      path.push_back({item, items_of(*item)});
    }
    std::unordered_set<const PickleValue*> reached;
    for (const auto& [value, mark] : marks) reached.insert(value);
    return reached;
  }

  template <class T>
  PickleRef container(T value) {
    containers_.push_back(make(std::move(value)));
    return containers_.back();
  }

  template <class... Parts>
  [[noreturn]] void error(const Parts&... parts) const {
    fail(in_.source(), ": pickle byte ", op_offset_, ": ", parts...);
  }
  template <class... Parts>
  void check(bool condition, const Parts&... parts) const {
    if (!condition) error(parts...);
  }

  template <class T>
  T& as(const PickleRef& ref, const char* expected) const {
    T* value = std::get_if<T>(&ref->value);
    check(value != nullptr, "expected ", expected);
    return *value;
  }

  void push(PickleRef ref) { stack_.push_back(std::move(ref)); }
  PickleRef pop() {
    check(stack_.size() > marks_back(), "stack underflow");
    PickleRef ref = std::move(stack_.back());
    stack_.pop_back();
    return ref;
  }
  PickleRef& top() {
    check(stack_.size() > marks_back(), "stack underflow");
    return stack_.back();
  }
  size_t marks_back() const { return marks_.empty() ? 0 : marks_.back(); }
  // Everything pushed since the last MARK, which is removed.
  std::vector<PickleRef> pop_to_mark() {
    check(!marks_.empty(), "no MARK on the stack");
    std::vector<PickleRef> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()),
                                 stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }

  std::string read_line() {
    std::string line;
    for (char c; (c = static_cast<char>(in_.read<uint8_t>())) != '\n';) line += c;
    return line;
  }
  int64_t read_long1() {
    const auto size = in_.read<uint8_t>();
    check(size <= 8, "LONG1 of ", int{size}, " bytes does not fit 64 bits");
    const auto bytes = in_.take(size);
    uint64_t bits = 0;
    for (size_t i = 0; i < size; ++i) bits |= uint64_t{bytes[i]} << (8 * i);
    if (size > 0 && size < 8 && (bytes[size - 1] & 0x80)) bits |= ~uint64_t{0} << (8 * size);
    return static_cast<int64_t>(bits);
  }
  double read_binfloat() {  // the one big-endian field in pickle
    const auto bytes = in_.take(8);
    uint64_t bits = 0;
    for (const uint8_t byte : bytes) bits = bits << 8 | byte;
    return std::bit_cast<double>(bits);
  }

  void memo_put(uint64_t index) { memo_[index] = top(); }
  void memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    check(it != memo_.end(), "memo index ", index, " was never stored");
    push(it->second);
  }

  // Only what a state_dict pickle refers to: anything else (a pickled nn.Module, numpy arrays,
  // arbitrary classes) is rejected here rather than silently mis-read.
  void push_global(std::string module, std::string name) {
    const bool known = (module == "collections" && name == "OrderedDict") ||
                       (module == "torch._utils" &&
                        (name == "_rebuild_tensor_v2" || name == "_rebuild_parameter")) ||
                       (module == "torch" && name.ends_with("Storage"));
    check(known, "unsupported global ", module, ".", name,
          " (only state_dicts of tensors can be read)");
    push(make(PickleGlobal{std::move(module), std::move(name)}));
  }

  PickleRef call(const PickleGlobal& callable, const PickleTuple& args) {
    const auto& items = args.items;
    if (callable.name == "OrderedDict") {
      check(items.empty(), "OrderedDict with constructor arguments is not supported");
      return container(PickleDict{});
    }
    if (callable.name == "_rebuild_parameter") {
      check(!items.empty(), "_rebuild_parameter without arguments");
      as<TorchTensor>(items[0], "a tensor as _rebuild_parameter's first argument");
      return items[0];
    }
    if (callable.name == "_rebuild_tensor_v2") {
      check(items.size() >= 4, "_rebuild_tensor_v2 with ", items.size(),
            " arguments, expected at least 4");
      TorchTensor tensor;
      tensor.storage = as<TorchStorage>(items[0], "a storage as the tensor's first argument");
      tensor.offset = as<int64_t>(items[1], "an integer storage offset");
      tensor.size = int_tuple(items[2], "a tuple of sizes");
      tensor.stride = int_tuple(items[3], "a tuple of strides");
      return make(std::move(tensor));
    }
    error("cannot call ", callable.module, ".", callable.name);
  }
  std::vector<int64_t> int_tuple(const PickleRef& ref, const char* expected) const {
    std::vector<int64_t> values;
    for (const auto& item : as<PickleTuple>(ref, expected).items) {
      values.push_back(as<int64_t>(item, expected));
    }
    return values;
  }

  // torch.save's persistent id for a storage: ('storage', type, key, location, numel).
  PickleRef load_persistent(const PickleRef& pid) {
    const auto& items = as<PickleTuple>(pid, "a persistent id tuple").items;
    check(items.size() == 5, "persistent id with ", items.size(), " fields, expected 5");
    check(as<std::string>(items[0], "a string persistent id tag") == "storage",
          "persistent id is not a storage");
    return make(TorchStorage{as<PickleGlobal>(items[1], "a storage type").name,
                             as<std::string>(items[2], "a string storage key"),
                             as<std::string>(items[3], "a string storage location"),
                             as<int64_t>(items[4], "an integer element count")});
  }

  void set_items(std::vector<PickleRef> items) {
    check(items.size() % 2 == 0, "SETITEMS with an odd number of values");
    auto& dict = as<PickleDict>(top(), "a dict to set items in");
    for (size_t i = 0; i < items.size(); i += 2) {
      dict.items.emplace_back(std::move(items[i]), std::move(items[i + 1]));
    }
  }
  void append(std::vector<PickleRef> items) {
    auto& list = as<PickleList>(top(), "a list to append to");
    for (auto& item : items) list.items.push_back(std::move(item));
  }

  void execute(uint8_t op) {
    switch (op) {
      case kProto: {
        const auto version = in_.read<uint8_t>();
        check(version <= kMaxProtocol, "unsupported pickle protocol ", int{version});
        break;
      }
      case kFrame:
        in_.skip(8);
        break;  // frame length: only an I/O hint
      case kMark:
        marks_.push_back(stack_.size());
        break;
      case kPop:
        pop();
        break;
      case kPopMark:
        pop_to_mark();
        break;
      case kDup:
        push(top());
        break;
      case kNone:
        push(make(PickleNone{}));
        break;
      case kNewTrue:
        push(make(true));
        break;
      case kNewFalse:
        push(make(false));
        break;
      case kBinInt:
        push(make(int64_t{in_.read<int32_t>()}));
        break;
      case kBinInt1:
        push(make(int64_t{in_.read<uint8_t>()}));
        break;
      case kBinInt2:
        push(make(int64_t{in_.read<uint16_t>()}));
        break;
      case kLong1:
        push(make(read_long1()));
        break;
      case kBinFloat:
        push(make(read_binfloat()));
        break;
      case kBinUnicode:
      case kBinString:
        push(make(in_.take_string(in_.read<uint32_t>())));
        break;
      case kShortBinUnicode:
      case kShortBinString:
        push(make(in_.take_string(in_.read<uint8_t>())));
        break;
      case kEmptyTuple:
        push(container(PickleTuple{}));
        break;
      case kTuple:
        push(container(PickleTuple{pop_to_mark()}));
        break;
      case kTuple1:
      case kTuple2:
      case kTuple3: {
        std::vector<PickleRef> items(op - kTuple1 + 1);
        for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
        push(container(PickleTuple{std::move(items)}));
        break;
      }
      case kEmptyList:
        push(container(PickleList{}));
        break;
      case kAppend:
        append({pop()});
        break;
      case kAppends:
        append(pop_to_mark());
        break;
      case kEmptyDict:
        push(container(PickleDict{}));
        break;
      case kSetItem: {
        auto value = pop();
        auto key = pop();
        set_items({std::move(key), std::move(value)});
        break;
      }
      case kSetItems:
        set_items(pop_to_mark());
        break;
      case kGlobal: {
        auto module = read_line();
        push_global(std::move(module), read_line());
        break;
      }
      case kStackGlobal: {
        auto name = as<std::string>(pop(), "a string global name");
        push_global(as<std::string>(pop(), "a string module name"), std::move(name));
        break;
      }
      case kReduce: {
        const auto args = pop();
        const auto callable = pop();
        push(call(as<PickleGlobal>(callable, "a global to call"),
                  as<PickleTuple>(args, "an argument tuple")));
        break;
      }
      case kBuild: {
        // An OrderedDict's state is its instance __dict__ (a state_dict's _metadata): unused.
        pop();
        as<PickleDict>(top(), "a dict to BUILD (only OrderedDict state is supported)");
        break;
      }
      case kBinPersId:
        push(load_persistent(pop()));
        break;
      case kBinPut:
        memo_put(in_.read<uint8_t>());
        break;
      case kLongBinPut:
        memo_put(in_.read<uint32_t>());
        break;
      case kMemoize:
        memo_put(memo_.size());
        break;
      case kBinGet:
        memo_get(in_.read<uint8_t>());
        break;
      case kLongBinGet:
        memo_get(in_.read<uint32_t>());
        break;
      default:
        error("unsupported pickle opcode 0x", std::hex, int{op});
    }
  }

  ByteCursor in_;
  size_t op_offset_ = 0;
  std::vector<PickleRef> stack_;
  std::vector<size_t> marks_;  // stack sizes at each MARK
  std::unordered_map<uint64_t, PickleRef> memo_;
  std::vector<PickleRef> containers_;              // every tuple, list and dict made
  std::unordered_set<const PickleValue*> result_;  // the values run() returned
};

}  // namespace

PickleRef unpickle_torch(std::span<const uint8_t> bytes, const std::string& source) {
  return Unpickler(bytes, source).run();
}

const PickleValue* dict_get(const PickleDict& dict, std::string_view key) {
  for (const auto& [k, v] : dict.items) {
    const auto* name = std::get_if<std::string>(&k->value);
    if (name && *name == key) return v.get();
  }
  return nullptr;
}

}  // namespace yolo4
