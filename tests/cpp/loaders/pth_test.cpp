#include "yolo4/loaders/pth.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "loaders/loader_test_util.h"
#include "yolo4/loaders/npy.h"

namespace yolo4 {
namespace {

using test::expect_error;
using test::TempDir;

// Checkpoints written once by torch for the whole suite; for every tensor <file>.pth/<key>
// the generator also saves the values it expects as <file>.<key>.npy (float32, C order).
constexpr const char* kGenerator = R"(
import collections, torch
import numpy as np

def save(name, obj, state, **kwargs):
    torch.save(obj, name + '.pth', **kwargs)
    for key, tensor in state.items():
        np.save('%s.%s.npy' % (name, key), tensor.detach().float().contiguous().numpy())

x = torch.linspace(-3, 3, 24).reshape(2, 3, 4)
plain = collections.OrderedDict(w=x, scalar=torch.tensor(2.5), empty=torch.zeros(0, 3),
                                param=torch.nn.Parameter(torch.ones(2)))
save('plain', plain, plain)

dtypes = collections.OrderedDict(
    half=(x * 1000).half(), tiny_half=torch.tensor([6e-8, -1e-5, 65504.0]).half(),
    bf16=(x * 1e20).bfloat16(), f64=x.double() / 3, i64=torch.arange(-3, 3), i32=torch.arange(4).int(),
    u8=torch.arange(200, 205).to(torch.uint8), flag=torch.tensor([True, False]))
save('dtypes', dtypes, dtypes)

big = torch.arange(60, dtype=torch.float32) * 0.5
views = collections.OrderedDict(
    transposed=big[:12].reshape(3, 4).t(), offset=big[10:16].reshape(2, 3), step=big[1::7],
    expanded=big[7:8].expand(3, 4), permuted=big[:24].reshape(2, 3, 4).permute(2, 0, 1),
    half_view=big.half()[5:17].reshape(3, 4).t())
save('views', views, views)

small = collections.OrderedDict(a=torch.ones(2, 2), b=torch.full((3,), 12345.0))
save('wrapped_sd', {'epoch': 3, 'state_dict': small, 'best': 0.25,
                    'optimizer': {'lr': 0.1, 'betas': (0.9, 0.999), 'state': {0: {'m': torch.ones(1)}}}},
     small)
save('wrapped_model', {'model': small, 'note': 'yolov4', 'ema': None}, small)
save('proto4', small, small, pickle_protocol=4)
save('legacy', small, small, _use_new_zipfile_serialization=False)
torch.save(torch.nn.Linear(2, 2), 'module.pth')
torch.save([torch.ones(1)], 'list.pth')
)";

class PthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { fixture_ = test::cached_python_fixture("pth", kGenerator); }

  void SetUp() override { YOLO4_REQUIRE_FIXTURE(fixture_); }

  static std::string path(const std::string& name) { return fixture_.dir + "/" + name; }

  // Loads <name>.pth and compares every tensor with torch's own float32 copy.
  static WeightMap load_and_compare(const std::string& name, size_t expected_count) {
    WeightMap weights = load_pth(path(name + ".pth"));
    EXPECT_EQ(weights.size(), expected_count);
    for (const auto& [key, array] : weights) {
      SCOPED_TRACE(name + ": " + key);
      const HostArray expected = read_npy(path(name + "." + key + ".npy"));
      EXPECT_EQ(array.shape, expected.shape);
      EXPECT_EQ(array.data.size(), expected.data.size());
      for (size_t i = 0; i < std::min(array.data.size(), expected.data.size()); ++i) {
        // Bitwise: the float conversions must be exact.
        if (std::memcmp(&array.data[i], &expected.data[i], 4) != 0) {
          ADD_FAILURE() << "index " << i << ": " << array.data[i] << " vs " << expected.data[i];
          break;
        }
      }
    }
    return weights;
  }

  static test::PythonFixture fixture_;
};

test::PythonFixture PthTest::fixture_;

TEST_F(PthTest, Float32StateDict) {
  const WeightMap weights = load_and_compare("plain", 4);
  EXPECT_EQ(weights.at("w").shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_TRUE(weights.at("scalar").shape.empty());
  EXPECT_EQ(weights.at("scalar").data, std::vector<float>{2.5f});
  EXPECT_TRUE(weights.at("empty").data.empty());
}

TEST_F(PthTest, ConvertsHalfBfloat16DoubleAndIntegers) {
  const WeightMap weights = load_and_compare("dtypes", 8);
  EXPECT_EQ(weights.at("i64").data, (std::vector<float>{-3, -2, -1, 0, 1, 2}));
  EXPECT_EQ(weights.at("u8").data, (std::vector<float>{200, 201, 202, 203, 204}));
  EXPECT_EQ(weights.at("flag").data, (std::vector<float>{1, 0}));
}

TEST_F(PthTest, HonoursStorageOffsetsAndStrides) {
  const WeightMap weights = load_and_compare("views", 6);
  EXPECT_EQ(weights.at("offset").data, (std::vector<float>{5, 5.5, 6, 6.5, 7, 7.5}));
  EXPECT_EQ(weights.at("expanded").data, std::vector<float>(12, 3.5f));
}

TEST_F(PthTest, UnwrapsTrainingCheckpoints) {
  load_and_compare("wrapped_sd", 2);
  load_and_compare("wrapped_model", 2);
  load_and_compare("proto4", 2);
}

TEST_F(PthTest, UnsupportedContentsFailClearly) {
  expect_error([&] { load_pth(path("legacy.pth")); }, {"legacy.pth", "not a zip archive"});
  expect_error([&] { load_pth(path("module.pth")); },
               {"module.pth", "unsupported global torch.nn.modules.linear.Linear"});
  expect_error([&] { load_pth(path("list.pth")); }, {"list.pth", "does not hold a dict"});
  expect_error([&] { load_pth(path("plain.w.npy")); }, {"plain.w.npy", "not a zip archive"});
}

TEST_F(PthTest, TruncatedAndCorruptFilesFail) {
  const std::vector<uint8_t> good = test::read_bytes(path("wrapped_sd.pth"));
  TempDir dir;
  const std::string bad = dir.path("bad.pth");

  auto bytes = good;
  bytes.resize(bytes.size() / 2);
  test::write_bytes(bad, bytes);
  expect_error([&] { load_pth(bad); }, {"bad.pth", "truncated"});

  // Flip a byte of tensor b's storage (12345.0f = 0x4640e400).
  bytes = good;
  const uint8_t pattern[] = {0x00, 0xe4, 0x40, 0x46};
  const auto it = std::search(bytes.begin(), bytes.end(), std::begin(pattern), std::end(pattern));
  ASSERT_NE(it, bytes.end());
  *it ^= 0x10;
  test::write_bytes(bad, bytes);
  expect_error([&] { load_pth(bad); }, {"bad.pth", "corrupt", "CRC-32"});

  // A zip without data.pkl.
  test::write_bytes(bad, test::read_bytes(path("plain.pth")));
  bytes = test::read_bytes(bad);
  for (size_t i = 0; i + 8 <= bytes.size(); ++i) {
    if (std::memcmp(&bytes[i], "data.pkl", 8) == 0) bytes[i] = 'D';
  }
  test::write_bytes(bad, bytes);
  expect_error([&] { load_pth(bad); }, {"bad.pth", "no <archive>/data.pkl"});
}

// Checkpoints whose pickle claims sizes their storages do not have: pickled by hand with
// torch.save's persistent ids, next to a small real storage.
constexpr const char* kClaimGenerator = R"(
import collections, pickle, struct, torch, zipfile

class Storage:
    def __init__(self, type, numel): self.type, self.numel = type, numel

class Tensor:
    def __init__(self, storage, size, stride): self.args = (storage, 0, size, stride)
    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args + (False, collections.OrderedDict())

class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage): return ('storage', obj.type, '0', 'cpu', obj.numel)
        return None

def save(name, storage_bytes, type, numel, size, stride):
    state = collections.OrderedDict(w=Tensor(Storage(type, numel), size, stride))
    with open('data.pkl', 'wb') as f: Pickler(f, protocol=2).dump(state)
    with zipfile.ZipFile(name + '.pth', 'w') as z:
        z.write('data.pkl', 'archive/data.pkl')
        z.writestr('archive/data/0', storage_bytes)

four_floats = struct.pack('<4f', 1, 2, 3, 4)
save('storage_100gb', four_floats, torch.FloatStorage, 25 * 10**9, (25 * 10**9,), (1,))
save('numel_wraps', b'', torch.DoubleStorage, 2**61, (2**61,), (1,))
save('expanded_4t', four_floats, torch.FloatStorage, 4, (2**40,), (0,))
save('stride_overflow', four_floats, torch.FloatStorage, 4, (3, 1), (2**62, 1))
save('count_overflow', four_floats, torch.FloatStorage, 4, (2**32, 2**32), (0, 0))
)";

// Sizes a checkpoint claims are checked against what it holds before anything is allocated.
TEST(PthLimits, ClaimedSizesAreCheckedBeforeAllocating) {
  const auto fixture = test::cached_python_fixture("pth_claims", kClaimGenerator);
  YOLO4_REQUIRE_FIXTURE(fixture);
  const auto file = [&](const std::string& name) { return fixture.dir + "/" + name + ".pth"; };
  expect_error([&] { load_pth(file("storage_100gb")); },
               {"storage_100gb.pth", "archive/data/0", "'w'", "has 16 bytes",
                "expected 25000000000 x 4-byte FloatStorage"});
  // 2^61 x 8 bytes is 0 modulo 2^64: an empty storage must not pass for it.
  expect_error([&] { load_pth(file("numel_wraps")); },
               {"has 0 bytes", "expected 2305843009213693952 x 8-byte DoubleStorage"});
  expect_error([&] { load_pth(file("expanded_4t")); },
               {"'w' is a view of 1099511627776 elements over a storage of 4", "expanded view"});
  expect_error([&] { load_pth(file("stride_overflow")); }, {"'w'", "too large for 64-bit"});
  expect_error([&] { load_pth(file("count_overflow")); }, {"'w'", "too large for 64-bit"});
}

}  // namespace
}  // namespace yolo4
