#include "yolo4/loaders/pickle.h"

#include <gtest/gtest.h>

#include "loaders/loader_test_util.h"

namespace yolo4 {
namespace {

using test::expect_error;
using test::TempDir;

std::vector<uint8_t> bytes_of(const std::string& text) {
  return {text.begin(), text.end()};
}

template <class T>
const T& get(const PickleValue* value) {
  EXPECT_NE(value, nullptr);
  const T* typed = std::get_if<T>(&value->value);
  if (typed == nullptr) throw std::runtime_error("pickle value has another type");
  return *typed;
}

// The same plain data pickled with protocols 2 and 4 reads back the same.
TEST(Pickle, ReadsPlainPythonValues) {
  TempDir dir;
  const std::string error = test::run_python(dir, R"(
import collections, pickle
value = {'int': 7, 'neg': -300, 'big': 2**40, 'negbig': -2**40, 'i32': 70000, 'f': -2.5,
         'yes': True, 'no': False, 'none': None, 'text': 'h\u00e9llo',
         'list': [1, 'two', 3.0], 'tup': (1, 2), 'tup3': (1, 2, 3), 'tup5': (1, 2, 3, 4, 5),
         'od': collections.OrderedDict([('b', 1), ('a', 2)]), 'shared': None}
shared = [4, 5]
value['shared'] = (shared, shared)
for protocol in (2, 4):
    open('p%d.pkl' % protocol, 'wb').write(pickle.dumps(value, protocol=protocol))
)");
  ASSERT_TRUE(error.empty()) << error;
  for (const char* name : {"p2.pkl", "p4.pkl"}) {
    SCOPED_TRACE(name);
    const PickleRef root = unpickle_torch(test::read_bytes(dir.path(name)), name);
    const auto& dict = get<PickleDict>(root.get());
    EXPECT_EQ(dict.items.size(), 16u);
    EXPECT_EQ(get<int64_t>(dict_get(dict, "int")), 7);
    EXPECT_EQ(get<int64_t>(dict_get(dict, "neg")), -300);
    EXPECT_EQ(get<int64_t>(dict_get(dict, "big")), int64_t{1} << 40);
    EXPECT_EQ(get<int64_t>(dict_get(dict, "negbig")), -(int64_t{1} << 40));
    EXPECT_EQ(get<int64_t>(dict_get(dict, "i32")), 70000);
    EXPECT_EQ(get<double>(dict_get(dict, "f")), -2.5);
    EXPECT_TRUE(get<bool>(dict_get(dict, "yes")));
    EXPECT_FALSE(get<bool>(dict_get(dict, "no")));
    get<PickleNone>(dict_get(dict, "none"));
    EXPECT_EQ(get<std::string>(dict_get(dict, "text")), "h\xc3\xa9llo");
    const auto& list = get<PickleList>(dict_get(dict, "list"));
    ASSERT_EQ(list.items.size(), 3u);
    EXPECT_EQ(get<std::string>(list.items[1].get()), "two");
    EXPECT_EQ(get<double>(list.items[2].get()), 3.0);
    EXPECT_EQ(get<PickleTuple>(dict_get(dict, "tup")).items.size(), 2u);
    EXPECT_EQ(get<PickleTuple>(dict_get(dict, "tup3")).items.size(), 3u);
    EXPECT_EQ(get<PickleTuple>(dict_get(dict, "tup5")).items.size(), 5u);
    const auto& ordered = get<PickleDict>(dict_get(dict, "od"));
    ASSERT_EQ(ordered.items.size(), 2u);
    EXPECT_EQ(get<std::string>(ordered.items[0].first.get()), "b");
    const auto& shared = get<PickleTuple>(dict_get(dict, "shared"));
    EXPECT_EQ(shared.items[0], shared.items[1]) << "memoized objects are shared";
    EXPECT_EQ(dict_get(dict, "absent"), nullptr);
  }
}

TEST(Pickle, ReadsTorchStateDict) {
  const auto fixture = test::cached_python_fixture("pickle", R"(
import torch, zipfile
torch.save(torch.nn.BatchNorm2d(3).state_dict(), 'bn.pth')
open('data.pkl', 'wb').write(zipfile.ZipFile('bn.pth').read('bn/data.pkl'))
)");
  YOLO4_REQUIRE_FIXTURE(fixture);
  const PickleRef root = unpickle_torch(test::read_bytes(fixture.dir + "/data.pkl"), "data.pkl");
  const auto& dict = get<PickleDict>(root.get());
  ASSERT_EQ(dict.items.size(), 5u);
  const auto& weight = get<TorchTensor>(dict_get(dict, "weight"));
  EXPECT_EQ(weight.storage.type, "FloatStorage");
  EXPECT_EQ(weight.storage.key, "0");
  EXPECT_EQ(weight.storage.location, "cpu");
  EXPECT_EQ(weight.storage.numel, 3);
  EXPECT_EQ(weight.offset, 0);
  EXPECT_EQ(weight.size, (std::vector<int64_t>{3}));
  EXPECT_EQ(weight.stride, (std::vector<int64_t>{1}));
  const auto& tracked = get<TorchTensor>(dict_get(dict, "num_batches_tracked"));
  EXPECT_EQ(tracked.storage.type, "LongStorage");
  EXPECT_TRUE(tracked.size.empty());
}

TEST(Pickle, RejectsWhatTorchStateDictsDoNotUse) {
  // Unknown opcode (BYTEARRAY8 of protocol 5).
  expect_error([] { unpickle_torch(bytes_of("\x80\x02\x96"), "x.pkl"); },
               {"x.pkl", "byte 2", "unsupported pickle opcode 0x96"});
  // A global that could run code.
  expect_error(
      [] {
        unpickle_torch(bytes_of("\x80\x02"
                                "cos\nsystem\n."),
                       "x.pkl");
      },
      {"x.pkl", "unsupported global os.system"});
  expect_error(
      [] {
        unpickle_torch(bytes_of("\x80\x02"
                                "ctorch.nn.modules.conv\nConv2d\n."),
                       "m");
      },
      {"unsupported global torch.nn.modules.conv.Conv2d", "state_dicts"});
  // Truncated: a 16-byte string with 2 bytes present, and a pickle without STOP.
  expect_error(
      [] {
        unpickle_torch(bytes_of(std::string("\x80\x02X\x10\x00\x00\x00"
                                            "ab",
                                            9)),
                       "t");
      },
      {"t", "truncated", "expected 16 more bytes, found 2"});
  expect_error([] { unpickle_torch(bytes_of("\x80\x02N"), "t"); }, {"t", "truncated"});
  // Stack misuse.
  expect_error([] { unpickle_torch(bytes_of("\x80\x02t."), "s"); }, {"s", "no MARK"});
  expect_error([] { unpickle_torch(bytes_of("\x80\x02."), "s"); }, {"STOP with 0 values"});
  expect_error([] { unpickle_torch(bytes_of("\x80\x02h\x05."), "s"); },
               {"memo index 5 was never stored"});
  expect_error([] { unpickle_torch(bytes_of("\x80\x02NNNs."), "s"); }, {"expected a dict"});
  expect_error([] { unpickle_torch(bytes_of("\x80\x09N."), "s"); },
               {"unsupported pickle protocol 9"});
  expect_error([] { unpickle_torch(bytes_of("\x80\x02NQ."), "s"); },
               {"expected a persistent id tuple"});
}

// A container that holds itself would be a shared_ptr cycle, never freed: refused when it is
// part of the result, and freed (LeakSanitizer checks this in the ASan stage) when not.
TEST(Pickle, ReferenceCyclesAreRefusedAndFreed) {
  // [] DUP APPEND: a list inside itself.
  expect_error([] { unpickle_torch(bytes_of("\x80\x02]2a."), "c.pkl"); },
               {"c.pkl", "a container holds itself (a reference cycle)"});
  // {} BINPUT 1, 1, BINGET 1, SETITEM: d[1] = d.
  expect_error([] { unpickle_torch(bytes_of("\x80\x02}q\x01K\x01h\x01s."), "d.pkl"); },
               {"reference cycle"});
  // The cyclic list is popped; the result is an empty dict.
  const PickleRef root = unpickle_torch(bytes_of("\x80\x02]2a0}."), "p.pkl");
  EXPECT_TRUE(std::get<PickleDict>(root->value).items.empty());
  // Shared (not cyclic) values are fine: (x, x) from the memo.
  const PickleRef pair = unpickle_torch(bytes_of("\x80\x02]q\x01h\x01\x86."), "s.pkl");
  const auto& items = std::get<PickleTuple>(pair->value).items;
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0], items[1]);
}

TEST(Pickle, DeepNestingIsRefused) {
  // 1001 lists, each appended into the one below: nested 1001 levels deep.
  const std::string deep = "\x80\x02" + std::string(1001, ']') + std::string(1000, 'a') + ".";
  expect_error([&] { unpickle_torch(bytes_of(deep), "n.pkl"); },
               {"n.pkl", "nested more than 1000 levels deep"});
  const std::string ok = "\x80\x02" + std::string(999, ']') + std::string(998, 'a') + ".";
  EXPECT_NO_THROW(unpickle_torch(bytes_of(ok), "n.pkl"));
}

// Found by fuzz_pickle (leaked under LeakSanitizer): an OrderedDict made to hold itself,
// followed by an unsupported opcode.
TEST(Pickle, FuzzFindingSelfReferenceThenError) {
  const auto bytes = test::read_bytes(std::string(YOLO4_SOURCE_DIR) +
                                      "/tests/data/fuzz/pickle/pickle_self_reference.pkl");
  expect_error([&] { unpickle_torch(bytes, "f.pkl"); }, {"f.pkl", "pickle byte"});
}

}  // namespace
}  // namespace yolo4
