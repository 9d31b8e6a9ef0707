// Helpers shared by the op tests: inputs in each layout and dtype, the poisoned-arena run, the
// padding-zero and slice-only checks, error messages and profiling records.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "yolo4/core/activation.h"
#include "yolo4/core/device.h"
#include "yolo4/core/error.h"
#include "yolo4/core/profiling.h"
#include "yolo4/core/tensor.h"
#include "yolo4/kernels/kernels.h"
#include "yolo4/ops/layout.h"

namespace yolo4::testing {

enum class Kind { kTile, kRowMajor, kSlice };
inline std::string kind_name(Kind kind) {
  return kind == Kind::kTile ? "tile" : kind == Kind::kRowMajor ? "row_major" : "slice";
}

inline std::string dtype_name(DataType dtype) {
  return std::string(to_string(dtype));
}

// Every activation a conv fuses from its config (kMishApprox comes from math_approx_mode:
// precision_test.cpp and mish_approx_test.cpp).
inline constexpr Activation kFusedActivations[] = {Activation::kNone,  Activation::kMish,
                                                   Activation::kLeaky, Activation::kLogistic,
                                                   Activation::kRelu,  Activation::kSwish};

// The direct conv and every Winograd tile.
inline constexpr kernels::WinogradTile kAllWinogradTiles[] = {
    kernels::WinogradTile::kNone, kernels::WinogradTile::kF2x2, kernels::WinogradTile::kF4x4,
    kernels::WinogradTile::kF6x6};

// Never a valid input value: an op that reads outside a slice's channels shows it in its output.
inline constexpr float kSentinel = 1e30f;

// Element `index` of a float32 or bfloat16 tensor's storage as a float.
inline float element_at(const Tensor& t, int64_t index) {
  return t.dtype() == DataType::BFLOAT16 ? to_float(t.data<bfloat16>()[index])
                                         : t.data<float>()[index];
}

// The values a tensor of `dtype` made from `data` holds: bfloat16 rounds each one.
inline std::vector<float> rounded(std::vector<float> data, DataType dtype) {
  if (dtype == DataType::BFLOAT16) {
    for (float& x : data) x = to_float(to_bfloat16(x));
  }
  return data;
}

// `data` (plain NHWC) as a TILE tensor, a ROW_MAJOR tensor, or a channel slice of a wider TILE
// tensor whose other channels hold kSentinel, in `dtype` (bfloat16 rounds the data).
inline Tensor make_input(const std::vector<float>& data, const Shape& shape, Kind kind,
                         DataType dtype = DataType::FLOAT32) {
  if (kind != Kind::kSlice) {
    return from_nhwc(data.data(), shape, kind == Kind::kTile ? Layout::TILE : Layout::ROW_MAJOR,
                     dtype);
  }
  constexpr int kBefore = 5, kAfter = 3;
  const Shape wide{shape.n, shape.h, shape.w, shape.c + kBefore + kAfter};
  std::vector<float> parent(size_t(wide.elements()), kSentinel);
  for (int64_t p = 0; p < shape.pixels(); ++p) {
    std::copy_n(&data[p * shape.c], shape.c, &parent[p * wide.c + kBefore]);
  }
  return from_nhwc(parent.data(), wide, Layout::TILE, dtype).channel_slice(kBefore, shape.c);
}

// Runs op() twice on a fresh device: a capture pass, then a replay whose output lands in an
// arena filled with NaN, so every element the test then reads (padding too) was written by op.
template <class Op>
inline auto run_in_poisoned_arena(Device& device, const Op& op) {
  device.allocator().begin_capture();
  op();
  device.allocator().end_capture();
  device.allocator().poison_arena();
  device.allocator().begin_replay();
  return op();
}

inline ::testing::AssertionResult tile_output_ok(const Tensor& t) {
  if (t.layout() != Layout::TILE) return ::testing::AssertionFailure() << "output is not TILE";
  for (int64_t p = 0; p < t.shape().pixels(); ++p) {
    for (int64_t ch = t.shape().c; ch < t.pixel_stride(); ++ch) {
      if (element_at(t, p * t.pixel_stride() + ch) != 0.0f) {
        return ::testing::AssertionFailure() << "padding channel " << ch << " of pixel " << p
                                             << " is " << element_at(t, p * t.pixel_stride() + ch);
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// Names of (Kind, DataType) parameters.
template <class Info>
std::string kind_dtype_name(const Info& info) {
  return kind_name(std::get<0>(info.param)) + "_" + dtype_name(std::get<1>(info.param));
}

// Names of (Isa, Kind, DataType) parameters.
template <class Info>
std::string isa_kind_dtype_name(const Info& info) {
  return std::string(to_string(std::get<0>(info.param))) + "_" +
         kind_name(std::get<1>(info.param)) + "_" + dtype_name(std::get<2>(info.param));
}

// Names of (Isa, case, Activation) parameters; case_name(case) is found next to the case type.
template <class Info>
std::string isa_case_activation_name(const Info& info) {
  return std::string(to_string(std::get<0>(info.param))) + "_" +
         case_name(std::get<1>(info.param)) + "_" + std::string(to_string(std::get<2>(info.param)));
}

inline std::string shape_name(const Shape& s) {
  return detail::concat(s.n, "x", s.h, "x", s.w, "x", s.c);
}

// The message names the op, the input and what was expected.
template <class F>
inline void expect_error(const F& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// Collects what ops report when profiled.
struct Recorder final : OpObserver {
  std::vector<OpRecord> records;
  void record(const OpRecord& r) override { records.push_back(r); }
};

// Sets element `index` of a float32 or bfloat16 tensor's storage (rounding for bfloat16).
inline void set_element(const Tensor& t, int64_t index, float value) {
  if (t.dtype() == DataType::BFLOAT16) {
    t.data<bfloat16>()[index] = to_bfloat16(value);
  } else {
    t.data<float>()[index] = value;
  }
}

// A TILE tensor whose every element, padding channels included, holds kSentinel (rounded to
// the dtype): the destination of ops writing into a slice of it.
inline Tensor sentinel_tensor(const Shape& shape, DataType dtype) {
  Tensor t = make_host_tensor({shape, dtype, Layout::TILE, {}});
  for (int64_t i = 0; i < shape.pixels() * t.pixel_stride(); ++i) set_element(t, i, kSentinel);
  return t;
}

// Every element of `parent` outside channels [first, first + count), its padding included,
// still holds kSentinel.
inline ::testing::AssertionResult only_slice_written(const Tensor& parent, int first, int count) {
  const float sentinel = rounded({kSentinel}, parent.dtype())[0];
  for (int64_t p = 0; p < parent.shape().pixels(); ++p) {
    for (int64_t ch = 0; ch < parent.pixel_stride(); ++ch) {
      if (ch >= first && ch < first + count) continue;
      const float v = element_at(parent, p * parent.pixel_stride() + ch);
      if (v != sentinel) {
        return ::testing::AssertionFailure()
               << "channel " << ch << " of pixel " << p << " is " << v << ", outside the slice ["
               << first << ", " << first + count << ")";
      }
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace yolo4::testing
